// Where the app, the stand-in and the fixtures are, wherever the tests run from.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEST_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(TEST_DIR, '..', '..');
export const APP_DIR = join(ROOT, 'luci-app');
export const VIEW_DIR = join(APP_DIR, 'htdocs/luci-static/resources/view/ndproxy');
export const ACL_FILE = join(APP_DIR, 'root/usr/share/rpcd/acl.d/luci-app-ndproxy.json');
export const MENU_FILE = join(APP_DIR, 'root/usr/share/luci/menu.d/luci-app-ndproxy.json');
export const POT_FILE = join(APP_DIR, 'po/templates/ndproxy.pot');
export const STANDIN_DIR = join(TEST_DIR, 'standin');
export const OUT_DIR = process.env.LUCI_TEST_OUT || join(TEST_DIR, 'out');

export const readJSON = (file) => JSON.parse(readFileSync(file, 'utf8'));
export const fixture = (name) => readJSON(join(TEST_DIR, 'fixtures', name));
