#!/usr/bin/env node
// Launcher for the operator CLI: runs the TypeScript sources through tsx (installed by `npm ci`).
import { register } from 'tsx/esm/api';

register();
await import('../functions/cli/main.ts');
