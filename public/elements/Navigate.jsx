// Sends the browser to another page of the app (props: url, label).
// Used when the user opens another patient: the new patient's conversation is a new thread, and
// Chainlit only resumes a thread from its own URL (/thread/<id>). The element is never persisted,
// so re-opening the previous conversation does not navigate again.
import { useEffect } from 'react';

export default function Navigate() {
  useEffect(() => {
    if (props.url && window.location.pathname !== props.url) {
      window.location.assign(props.url);
    }
  }, []);
  return <span className="text-sm text-muted-foreground">{props.label || "Ouverture…"}</span>;
}
