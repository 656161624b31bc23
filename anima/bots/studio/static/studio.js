// Anima Studio: live validation in the card editor, and the streamed test chat. No inline script
// runs (the Content-Security-Policy forbids it); text from a card or a reply is set as textContent.
"use strict";
const csrf = document.querySelector('meta[name="csrf"]').content;

const yaml = document.getElementById("yaml");
if (yaml) {
  let timer = 0;
  yaml.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const body = new FormData();
      body.append("yaml", yaml.value);
      const response = await fetch(location.pathname + "/validate", {
        method: "POST", body, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
      });
      if (!response.ok) return;
      const result = await response.json();
      document.getElementById("lines").innerHTML = result.html;  // escaped by the server
      const status = document.getElementById("status");
      status.textContent = result.valid ? "valid" : result.problems.length + " problem(s)";
      status.className = result.valid ? "ok" : "bad";
    }, 250);
  });
}

const chat = document.getElementById("chat");
if (chat) {
  const log = document.getElementById("log");
  const line = (cls, text) => {
    const p = document.createElement("p");
    p.className = cls;
    p.textContent = text;
    log.appendChild(p);
    return p;
  };
  chat.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = chat.elements.message;
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    line("you", "you: " + text);
    const reply = line("reply", "");
    reply.dataset.state = "streaming";
    const body = new FormData();
    body.append("message", text);
    const response = await fetch(chat.action, {
      method: "POST", body, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    let pieces = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const event = JSON.parse(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
        if (event.delta !== undefined) {
          reply.textContent += event.delta;
          pieces += 1;
        } else if (event.reply !== undefined) {
          reply.textContent = event.reply;
          for (const notice of event.notices) line("muted", "[" + notice + "]");
          reply.dataset.pieces = String(pieces);
          const first = event.first_piece_s === null ? "–" : event.first_piece_s.toFixed(2) + " s";
          line("muted timing", "first piece " + first + ", backend " + (event.backend || "–"));
        } else if (event.text !== undefined) {
          line("text", (event.speaker ? event.speaker + ": " : "") + event.text);
        } else if (event.done) {
          const verdicts = event.verdicts.length ? event.verdicts.join("; ") : "all checks allowed";
          line("muted verdicts", "safety: " + verdicts + " · total " + event.total_s.toFixed(2) + " s");
          if (event.error) line("bad", event.error);
          reply.dataset.state = "done";
        }
      }
    }
  });
}

const cardform = document.getElementById("cardform");
if (cardform) {
  // live validation: the form's values as the card would be saved, the errors beside their fields
  let timer = 0;
  const check = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const body = new FormData(cardform);
      body.delete("avatar");  // the picture is checked when it is saved, not sent at every key
      const response = await fetch(location.pathname + "/validate", {
        method: "POST", body, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
      });
      if (!response.ok) return;
      const result = await response.json();
      for (const box of document.querySelectorAll(".problems[data-for]")) {
        box.innerHTML = result.fields[box.dataset.for] || "";  // escaped by the server
      }
      const status = document.getElementById("status");
      status.textContent = result.status;
      status.className = result.valid ? "ok" : "bad";
    }, 250);
  };
  cardform.addEventListener("input", check);
  // "add": one more empty row like the group's last one
  for (const button of cardform.querySelectorAll("button[data-add]")) {
    button.addEventListener("click", () => {
      const rows = cardform.querySelectorAll('.row[data-group="' + button.dataset.add + '"]');
      const row = rows[rows.length - 1].cloneNode(true);
      for (const input of row.querySelectorAll("input, textarea")) input.value = "";
      button.before(row);
      row.querySelector("input:not([type=hidden]), textarea").focus();
    });
  }
}
