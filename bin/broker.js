#!/usr/bin/env node
// The `broker` command: runs the compiled entry point (built by `npm install` / `npm run build`).
import '../dist/main.js';
