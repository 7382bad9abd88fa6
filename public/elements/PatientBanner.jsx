// Always-visible banner of the patient whose record is open (props: label, details).
// Fixed at the top centre of the window, over Chainlit's header, so that the current patient
// stays visible however far the conversation scrolls.
export default function PatientBanner() {
  return (
    <div
      id="patient-banner"
      role="status"
      aria-label={"Patient en cours : " + props.label}
      style={{ position: "fixed", top: "12px", left: "50%", transform: "translateX(-50%)", zIndex: 40, maxWidth: "60vw" }}
      className="flex items-center gap-2 rounded-full border border-primary/40 bg-card px-4 py-1.5 text-sm shadow-sm"
    >
      <span className="text-muted-foreground">Patient</span>
      <span className="font-semibold whitespace-nowrap">{props.label}</span>
      <span className="hidden lg:inline truncate text-muted-foreground">{props.details}</span>
    </div>
  );
}
