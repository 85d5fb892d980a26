// Package identity is the identity service: users and accounts,
// organizations and groups, the password policy and history, sessions and
// API keys, TOTP and recovery codes, passkeys, single sign-on, password
// resets, login throttling, device tokens and notices. It implements
// coffer.UserService, AuthService, MFAService, SSOService, OrgService,
// AccountService and PasswordResetStore on the storage core, through the
// shared catalogue; it imports no other service.
package identity
