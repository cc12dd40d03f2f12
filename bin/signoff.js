#!/usr/bin/env node
// The installed command: runs the compiled composition root (npm run build first).
import '../dist/main.js';
