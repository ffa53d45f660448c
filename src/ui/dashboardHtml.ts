/**
 * The dashboard webview's HTML document with its Content Security Policy. Plain TypeScript (no `vscode` import), so
 * the Chromium tests serve exactly this page, with exactly this policy, that VS Code would show.
 *
 * The policy allows nothing by default; styles, fonts and images only from the webview's own resource origin
 * (`cspSource`), scripts only with this page's nonce. No inline script, no remote content, no 'unsafe-inline':
 * the toolkit's styles are constructable stylesheets and Chart.js styles canvases through the CSSOM, neither of which
 * style-src governs. The one <style> element the toolkit makes (fast-web-utilities' canUseFocusVisible probe) reads
 * the nonce from <meta property="csp-nonce">, so style-src carries the nonce too. The Chromium tests record every
 * securitypolicyviolation to prove the page runs with none.
 */

export interface DashboardPage {
  /** The webview's `cspSource` (VS Code) or the test server's origin. */
  readonly cspSource: string;
  readonly nonce: string;
  readonly scriptUri: string;
  readonly styleUri: string;
  /** Scripts to run before the dashboard's own (the tests' acquireVsCodeApi stand-in); they get the nonce too. */
  readonly preludeScriptUris?: readonly string[];
  /** More stylesheets from `cspSource` (the tests' theme variables, which VS Code itself injects). */
  readonly extraStyleUris?: readonly string[];
  readonly bodyClass?: string;
  /** The document title (the layer graph panel shares this page and its policy). */
  readonly title?: string;
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    // The nonce (not 'unsafe-inline') admits the one <style> the toolkit creates: FAST's :focus-visible probe.
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

/** 128 random bits, base64: a fresh one per page load, so an injected script tag can never guess it. */
export function makeNonce(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function dashboardHtml(page: DashboardPage): string {
  const nonce = escapeAttribute(page.nonce);
  const styles = [page.styleUri, ...(page.extraStyleUris ?? [])]
    .map((uri) => `  <link rel="stylesheet" href="${escapeAttribute(uri)}">`)
    .join('\n');
  const scripts = [...(page.preludeScriptUris ?? []), page.scriptUri]
    .map((uri) => `  <script nonce="${nonce}" src="${escapeAttribute(uri)}"></script>`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeAttribute(contentSecurityPolicy(page.cspSource, page.nonce))}">
  <meta property="csp-nonce" content="${nonce}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="icon" href="data:,">
  <title>${escapeAttribute(page.title ?? 'ArchLoop dashboard')}</title>
${styles}
</head>
<body${page.bodyClass ? ` class="${escapeAttribute(page.bodyClass)}"` : ''}>
  <div id="root"></div>
${scripts}
</body>
</html>
`;
}
