/** An error message in the UI's alert style, with the fields an API error names (if any) listed under it. */
export function ErrorBox({ error, issues = [] }: { error: string | null; issues?: string[] }) {
  if (!error) return null;
  return (
    <div className="alert alert-error" role="alert">
      <p>{error}</p>
      {issues.length > 0 && (
        <ul>
          {issues.map((i) => (
            <li key={i}>{i}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
