import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The build goes to ../dist, which the Go package ui embeds. File names are
// stable (no content hashes) so that a rebuild of the same source gives the
// same files and `git diff --exit-code` can check the committed output; the
// server answers them with ETags instead of long cache lifetimes.
export default defineConfig({
  plugins: [svelte({ compilerOptions: { css: "external" } })],
  base: "/",
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
});
