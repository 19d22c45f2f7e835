// The chat with JavaScript: ask /api/ask and append the answer without reloading the page.
// Every node is built with textContent (never innerHTML), so document text stays text.
"use strict";

(() => {
  const form = document.getElementById("ask");
  const conversation = document.getElementById("conversation");
  const box = document.getElementById("question");
  const status = document.getElementById("status");
  const HISTORY_SENT = 20; // earlier questions sent along, like the page without JavaScript

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function copyButton() {
    const button = el("button", "copy", "Copy quote");
    button.type = "button";
    return button;
  }

  // A quote card, the same markup as the server's (templates/_quotes.html).
  function card(p, index) {
    // Offsets count Unicode code points (Python), not UTF-16 units: slice an array of them.
    const chars = Array.from(p.text);
    const { start, end } = p.highlight;
    const quote = el("blockquote");
    quote.cite = p.url;
    const marked = el("mark");
    if (p.answer) {
      marked.append(
        chars.slice(start, p.answer.start).join(""),
        el("mark", "answer", chars.slice(p.answer.start, p.answer.end).join("")),
        chars.slice(p.answer.end, end).join(""),
      );
    } else {
      marked.textContent = chars.slice(start, end).join("");
    }
    quote.append(chars.slice(0, start).join(""), marked, chars.slice(end).join(""));
    const source = el("a", "source", p.citation);
    source.href = p.page_url || p.url; // a PDF passage: its page, the passage marked
    const score = el("span", "score", `score ${p.score.toFixed(2)}`);
    score.title = "retrieval score";
    const caption = el("figcaption");
    caption.append(source, " ");
    if (p.original_url) {
      const original = el("a", "original", `PDF p. ${p.page}`);
      original.href = p.original_url;
      caption.append(original, " ");
    }
    caption.append(score, " ", copyButton());
    const figure = el("figure", index ? "quote secondary" : "quote");
    figure.append(quote, caption);
    return figure;
  }

  // 👍 / 👎 on an answer, the same form the server renders (it works without JavaScript).
  function vote(answer, link, filterValue) {
    const form = el("form", "vote");
    form.method = "post";
    form.action = "/feedback";
    const fields = { question: answer.question, next: link };
    if (filterValue) fields.document = filterValue;
    for (const [name, value] of Object.entries(fields)) {
      const input = el("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.append(input);
    }
    for (const [value, label, mark] of [
      ["yes", "Helpful", "👍"],
      ["no", "Not helpful", "👎"],
    ]) {
      const button = el("button", "", `${mark} ${label}`);
      button.type = "submit";
      button.name = "helpful";
      button.value = value;
      button.setAttribute("aria-label", label);
      form.append(button, " ");
    }
    return form;
  }

  // The tools under an answer: a link to the conversation up to it, a button to copy it, and
  // the 👍 / 👎 marks.
  function tools(answer, link, filterValue) {
    const permalink = el("a", "permalink", "Link to this answer");
    permalink.href = link;
    const button = el("button", "copy-link", "Copy link");
    button.type = "button";
    const line = el("div", "turn-tools");
    line.append(permalink, " ", button, vote(answer, link, filterValue));
    return line;
  }

  function turn(answer, link, filterValue) {
    const question = el("p", "question");
    question.append(el("span", "who", "You asked"), " ", answer.question);
    const reply = el("div", "reply");
    if (answer.answered) {
      if (answer.strength) reply.append(el("p", "strength", answer.strength));
      reply.append(...answer.passages.map(card));
    } else {
      reply.append(el("p", "no-answer", answer.message));
      if (answer.passages.length) {
        const closest = el("details", "closest");
        closest.append(
          el("summary", "", "Closest passages"),
          ...answer.passages.map((p) => card(p, 0)),
        );
        reply.append(closest);
      }
    }
    if (answer.explanation) {
      const why = el("details", "why");
      const lines = el("ul");
      lines.append(...answer.explanation.lines.map((line) => el("li", "", line)));
      why.append(el("summary", "", "Why this answer?"), lines);
      reply.append(why);
    }
    const item = el("li", "turn");
    item.append(question, reply, tools(answer, link, filterValue));
    return item;
  }

  function say(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  function flash(button, text) {
    const label = button.textContent;
    button.textContent = text;
    setTimeout(() => {
      button.textContent = label;
    }, 2000);
  }

  // Copy buttons need JavaScript, so they start hidden.
  for (const button of document.querySelectorAll("button.copy, button.copy-link")) {
    button.hidden = false;
  }

  async function copy(button, text, fallback) {
    try {
      await navigator.clipboard.writeText(text);
      flash(button, "Copied");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(fallback);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      flash(button, "Selected: press Ctrl+C");
    }
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (button) {
      // The quote, its source and the address of its paragraph.
      const figure = button.closest("figure");
      const quote = figure.querySelector("blockquote");
      const source = figure.querySelector("a.source");
      const text = `${quote.textContent}\n— ${source.textContent} ${source.href}`;
      await copy(button, text, quote);
      return;
    }
    const linkButton = event.target.closest("button.copy-link");
    if (linkButton) {
      const link = linkButton.closest(".turn-tools").querySelector("a.permalink");
      await copy(linkButton, link.href, link);
    }
  });

  // A mark is sent in the background and acknowledged in place of the buttons.
  document.addEventListener("submit", async (event) => {
    const voteForm = event.target.closest("form.vote");
    if (!voteForm) return;
    event.preventDefault();
    const data = new FormData(voteForm);
    const body = {
      question: data.get("question"),
      helpful: event.submitter?.value === "yes",
      ...(data.get("document") ? { document: data.get("document") } : {}),
    };
    try {
      const response = await fetch("/api/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      voteForm.replaceChildren(
        el("span", "voted", response.ok ? "Thanks for the feedback." : "Not recorded."),
      );
    } catch {
      voteForm.replaceChildren(el("span", "voted", "Not recorded."));
    }
  });

  if (!form || !conversation || !box) return;

  // Earlier questions travel in hidden fields (see templates/chat.html): the same fields a
  // post without JavaScript sends, so both ways keep one conversation. The conversation is
  // also the page's address, /?q=…&q=…, so a reload or Back shows it again.
  const history = Array.from(form.querySelectorAll('input[name="q"]'), (input) => input.value);
  const filter = form.querySelector('[name="document"]');

  function conversationPath(questions) {
    const params = new URLSearchParams();
    for (const q of questions) params.append("q", q);
    if (filter?.value) params.append("document", filter.value);
    const query = params.toString();
    return query ? `/?${query}` : "/";
  }

  const send = form.querySelector('button[type="submit"]');
  let busy = false;

  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    send.disabled = true;
    say("Searching the documents…");
    try {
      const response = await fetch("/api/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          question: box.value,
          history: history.slice(-HISTORY_SENT),
          explain: true, // shown on demand, under "Why this answer?"
          ...(filter?.value ? { document: filter.value } : {}),
        }),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        say(data.detail || `The request failed (HTTP ${response.status}).`, true);
        return;
      }
      history.push(data.question);
      const path = conversationPath(history.slice(-HISTORY_SENT));
      const item = turn(data, path, filter?.value);
      conversation.append(item);
      const hidden = el("input");
      hidden.type = "hidden";
      hidden.name = "q";
      hidden.value = data.question;
      form.querySelector("label").before(hidden); // after the earlier ones, in order
      window.history.replaceState(null, "", path);
      const tools = document.getElementById("conversation-tools");
      if (tools) {
        tools.hidden = false;
        document.getElementById("export").href = `/conversation.md${path.slice(1)}`;
      }
      document.getElementById("intro")?.remove();
      document.getElementById("overview")?.remove();
      box.value = "";
      say("");
      item.scrollIntoView({ block: "start" });
    } catch {
      say("The server cannot be reached. Try again.", true);
    } finally {
      busy = false;
      send.disabled = false;
      box.focus();
    }
  });
})();
