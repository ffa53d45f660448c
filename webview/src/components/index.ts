/**
 * The dashboard's only contact with a component library (@vscode/webview-ui-toolkit today). Views call these
 * factories and never name a toolkit tag, so moving to @vscode-elements/elements changes this folder alone.
 */
import {
  provideVSCodeDesignSystem,
  vsCodeBadge,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDropdown,
  vsCodeOption,
  vsCodePanels,
  vsCodePanelTab,
  vsCodePanelView,
  vsCodeProgressRing,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';

let registered = false;

/** Defines the custom elements once (a second define of the same tag would throw). */
export function registerComponents(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(
    vsCodeBadge(),
    vsCodeButton(),
    vsCodeCheckbox(),
    vsCodeDropdown(),
    vsCodeOption(),
    vsCodePanels(),
    vsCodePanelTab(),
    vsCodePanelView(),
    vsCodeProgressRing(),
    vsCodeTextField(),
  );
}

interface ValueElement extends HTMLElement {
  value: string;
}
interface CheckedElement extends HTMLElement {
  checked: boolean;
}

export function button(
  label: string,
  onClick: () => void,
  options: { appearance?: 'primary' | 'secondary'; title?: string; testId?: string } = {},
): HTMLElement {
  const element = document.createElement('vscode-button');
  element.textContent = label;
  element.setAttribute('appearance', options.appearance ?? 'secondary');
  if (options.title) element.title = options.title;
  if (options.testId) element.dataset.testid = options.testId;
  element.addEventListener('click', onClick);
  return element;
}

export function checkbox(label: string, checked: boolean, onChange: (checked: boolean) => void, testId?: string): HTMLElement {
  const element = document.createElement('vscode-checkbox') as CheckedElement;
  element.textContent = label;
  element.checked = checked;
  if (checked) element.setAttribute('checked', '');
  if (testId) element.dataset.testid = testId;
  element.addEventListener('change', () => onChange(element.checked));
  return element;
}

export interface Choice {
  readonly value: string;
  readonly label: string;
}

export interface Dropdown {
  readonly element: HTMLElement;
  setChoices(choices: readonly Choice[], value: string): void;
}

export function dropdown(label: string, onChange: (value: string) => void, testId?: string): Dropdown {
  const element = document.createElement('vscode-dropdown') as ValueElement;
  element.setAttribute('aria-label', label);
  element.title = label;
  if (testId) element.dataset.testid = testId;
  element.addEventListener('change', () => onChange(element.value));
  let current = '';
  return {
    element,
    setChoices(choices, value) {
      const key = JSON.stringify(choices) + value;
      if (key === current) return;
      current = key;
      element.replaceChildren(
        ...choices.map((choice) => {
          const option = document.createElement('vscode-option') as ValueElement;
          option.value = choice.value;
          option.setAttribute('value', choice.value);
          option.textContent = choice.label;
          if (choice.value === value) option.setAttribute('selected', '');
          return option;
        }),
      );
      element.value = value;
    },
  };
}

export function textField(
  label: string,
  onInput: (value: string) => void,
  options: { placeholder?: string; testId?: string; value?: string } = {},
): HTMLElement & { value: string } {
  const element = document.createElement('vscode-text-field') as ValueElement;
  element.setAttribute('aria-label', label);
  if (options.placeholder) element.setAttribute('placeholder', options.placeholder);
  if (options.testId) element.dataset.testid = options.testId;
  if (options.value) element.value = options.value;
  element.addEventListener('input', () => onInput(element.value));
  return element;
}

export interface Tab {
  readonly id: string;
  readonly label: string;
  readonly panel: HTMLElement;
}

/** Tabs across the top; `onChange` gets the id of the newly shown tab. */
export function tabs(items: readonly Tab[], activeId: string, onChange: (id: string) => void): HTMLElement {
  const panels = document.createElement('vscode-panels');
  panels.setAttribute('activeid', `tab-${activeId}`);
  // The toolkit's sliding underline moves only when its transition ends, which a page hidden or built off-screen
  // (a dashboard shown again with another tab remembered) never sees: it stayed under the first tab. The active tab
  // draws its own underline instead (dashboard.css), from the aria-selected the toolkit keeps right.
  (panels as HTMLElement & { activeindicator: boolean }).activeindicator = false;
  for (const item of items) {
    const tab = document.createElement('vscode-panel-tab');
    tab.id = `tab-${item.id}`;
    tab.textContent = item.label;
    tab.dataset.testid = `tab-${item.id}`;
    panels.appendChild(tab);
  }
  for (const item of items) {
    const view = document.createElement('vscode-panel-view');
    view.id = `view-${item.id}`;
    view.appendChild(item.panel);
    panels.appendChild(view);
  }
  panels.addEventListener('change', (event) => {
    // FAST emits `change` from nested elements too; only the panels' own event carries the active tab.
    if (event.target !== panels) return;
    const active = (event as CustomEvent<HTMLElement | undefined>).detail;
    if (active?.id?.startsWith('tab-')) onChange(active.id.slice(4));
  });
  return panels;
}

export function progressRing(): HTMLElement {
  return document.createElement('vscode-progress-ring');
}

export function badge(text: string): HTMLElement {
  const element = document.createElement('vscode-badge');
  element.textContent = text;
  return element;
}
