#!/usr/bin/env node
/**
 * The `switchboard` executable (package.json `bin`): `npx switchboard connect|serve|token|bench`.
 * Nothing imports this module; it is the only one in the package that runs a statement when loaded
 * (docs/cli.md).
 */
import { main } from './main.js';

// exitCode, not exit(): stdout may be a pipe whose last writes are still queued.
process.exitCode = await main(process.argv.slice(2));
