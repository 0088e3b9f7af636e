// Passes the grid viewer's "first view drawn" to the app: the viewer sits in a fragment, whose own events rerun
// only the fragment; this element sits outside it, so its trigger reruns the whole page (which adds the controls).
export default function (component) {
  let sent = false;
  const send = () => {
    if (sent) return;
    sent = true;
    component.setTriggerValue("drawn", true);
  };
  if (window.__wbvFirstViewDrawn) send(); // drawn before this element mounted
  document.addEventListener("wbv-first-view-drawn", send);
  return () => document.removeEventListener("wbv-first-view-drawn", send);
}
