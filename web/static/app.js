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
    const source = el("a", "source", `${p.document} ¶${p.paragraph}`);
    source.href = p.url;
    const score = el("span", "score", `score ${p.score.toFixed(2)}`);
    score.title = "retrieval score";
    const caption = el("figcaption");
    caption.append(source, " ", score, " ", copyButton());
    const figure = el("figure", index ? "quote secondary" : "quote");
    figure.append(quote, caption);
    return figure;
  }

  function turn(answer) {
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
    const item = el("li", "turn");
    item.append(question, reply);
    return item;
  }

  function say(text, isError = false) {
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  function flash(button, text) {
    button.textContent = text;
    setTimeout(() => {
      button.textContent = "Copy quote";
    }, 2000);
  }

  // Copy buttons need JavaScript, so they start hidden.
  for (const button of document.querySelectorAll("button.copy")) button.hidden = false;

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const figure = button.closest("figure");
    const quote = figure.querySelector("blockquote");
    const text = `${quote.textContent}\n— ${figure.querySelector("a.source").textContent}`;
    try {
      await navigator.clipboard.writeText(text);
      flash(button, "Copied");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(quote);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      flash(button, "Selected: press Ctrl+C");
    }
  });

  if (!form || !conversation || !box) return;

  // Earlier turns travel in hidden fields as references (see templates/chat.html): the same
  // fields a post without JavaScript would send, so both ways keep one conversation.
  function earlierQuestion(input) {
    try {
      return JSON.parse(input.value).q;
    } catch {
      return undefined;
    }
  }

  function reference(answer) {
    const passages = answer.passages.map((p) => [
      p.document,
      p.paragraph,
      p.highlight.start,
      p.highlight.end,
    ]);
    return JSON.stringify({ q: answer.question, a: answer.answered, p: passages });
  }

  const history = Array.from(form.querySelectorAll('input[name="turn"]'), earlierQuestion).filter(
    (q) => typeof q === "string",
  );
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
        body: JSON.stringify({ question: box.value, history: history.slice(-HISTORY_SENT) }),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        say(data.detail || `The request failed (HTTP ${response.status}).`, true);
        return;
      }
      const item = turn(data);
      conversation.append(item);
      history.push(data.question);
      const hidden = el("input");
      hidden.type = "hidden";
      hidden.name = "turn";
      hidden.value = reference(data);
      form.querySelector("label").before(hidden); // after the earlier ones, in order
      document.getElementById("intro")?.remove();
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
