#!/usr/bin/env node
// Loads tsx in this process and runs the TypeScript entry point, so `npx slowq …` works from a checkout
// without a build step and signals reach the daemon directly.
import { register } from "tsx/esm/api"

register()
await import("../main.ts")
