// Dashboard entry point (browser bundle). The dashboard issue fills this in.
const root = document.getElementById('root');
if (root) root.textContent = 'ArchLoop dashboard';
