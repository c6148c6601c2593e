#!/usr/bin/env node
/** `cdk synth` / `cdk deploy` entry point (cdk.json). Stage settings: `-c stage=prod -c alertEmail=...`. */
import { buildApp } from '../lib/synth.js';

buildApp().app.synth();
