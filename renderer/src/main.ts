import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { claimTokenFromAddressBar } from '../lib/studio-client.js';
import { installPerfHook } from '../lib/perf-marks.js';

// The serve-mode token leaves the address bar before anything else can read or bookmark it.
claimTokenFromAddressBar();
installPerfHook();

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');
mount(App, { target });
