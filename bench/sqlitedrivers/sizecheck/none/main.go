// Command none is the size baseline: database/sql with no driver linked in.
package main

import (
	"database/sql"
	"fmt"
)

func main() {
	fmt.Println(sql.Drivers())
}
