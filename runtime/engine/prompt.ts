/**
 * System prompts as templates: `{{name}}` placeholders filled from the run's
 * context (date, conversation title, workspace, room context, ...). Unknown
 * names render as empty text, so a typo never leaks braces to the model.
 */
export interface PromptVariables {
  date: string;
  datetime: string;
  conversation_title: string;
  preset_name: string;
  model: string;
  workspace: string;
  room_context: string;
  persona_name: string;
  participants: string;
  [name: string]: string;
}

export function renderPrompt(template: string, variables: Partial<PromptVariables>): string {
  return template.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_match, name: string) => variables[name] ?? '');
}

/** The variables every run has. */
export function baseVariables(now: Date, values: Partial<PromptVariables>): Partial<PromptVariables> {
  return {
    date: now.toISOString().slice(0, 10),
    datetime: now.toISOString(),
    ...values,
  };
}
