// Dashboard entry point (browser bundle): registers the components and starts the app in #root.
import './zodConfig';
import { DashboardApp } from './app';
import { exposeForTests } from './charts';
import { registerComponents } from './components';
import { connectToHost } from './vscodeApi';

registerComponents();
exposeForTests();
const root = document.getElementById('root');
if (root) new DashboardApp(root, connectToHost());
