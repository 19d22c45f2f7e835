// The admin page: follow a rebuild live (documents read, texts embedded, time left), and ask
// before deleting a file. Every node's text is set with textContent.
"use strict";

(() => {
  const build = document.getElementById("build");
  const state = document.getElementById("build-state");
  const progress = document.getElementById("build-progress");
  const POLL_MS = 400;

  for (const form of document.querySelectorAll("form.delete")) {
    form.addEventListener("submit", (event) => {
      const name = form.querySelector('input[name="name"]').value;
      if (!window.confirm(`Delete ${name} from the documents folder?`)) event.preventDefault();
    });
  }

  function describe(status) {
    const p = status.progress;
    if (status.state !== "running") return status.summary || status.error || "";
    if (!p) return "Starting…";
    if (p.phase === "reading") return `Reading documents: ${p.documents_read} of ${p.documents}`;
    if (p.phase === "writing") return "Writing the new index…";
    const left = p.eta_seconds === null ? "" : ` · about ${Math.ceil(p.eta_seconds)} s left`;
    return (
      `Embedding: ${p.texts_embedded} of ${p.texts} texts ` +
      `(${p.paragraphs} new paragraphs; ${p.documents} documents read)${left}`
    );
  }

  if (!build || !state || !progress) return;
  let wasRunning = build.dataset.state === "running";

  async function poll() {
    try {
      const response = await fetch("/admin/build.json", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const { status } = await response.json();
      build.dataset.state = status.state;
      state.textContent = status.state;
      progress.textContent = describe(status);
      if (wasRunning && status.state !== "running") {
        window.location.reload(); // the new history, file list and counts
        return;
      }
      wasRunning = status.state === "running";
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
