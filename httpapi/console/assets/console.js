// Tally console: live progress for verify. Without this script the form
// posts and the page returns with the report; with it, the page streams
// progress lines from the same endpoint and shows the report in place.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("verify-form");
  if (!form || !window.fetch || !window.TextDecoder) return;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = document.getElementById("verify-progress");
    var bar = document.getElementById("verify-bar");
    var count = document.getElementById("verify-count");
    var report = document.getElementById("verify-report");
    var button = form.querySelector("button");
    box.hidden = false; bar.removeAttribute("value"); count.textContent = "starting…";
    report.innerHTML = ""; button.disabled = true;
    var done = function () { button.disabled = false; };
    fetch(form.action, {
      method: "POST", body: new URLSearchParams(new FormData(form)),
      headers: { "Accept": "application/x-ndjson" }, credentials: "same-origin"
    }).then(function (resp) {
      if (!resp.ok || resp.headers.get("Content-Type") !== "application/x-ndjson") {
        return resp.text().then(function (t) { document.open(); document.write(t); document.close(); });
      }
      var reader = resp.body.getReader(), decoder = new TextDecoder(), buf = "";
      var line = function (text) {
        if (!text) return;
        var m = JSON.parse(text);
        if (m.total !== undefined) {
          bar.max = Math.max(m.total, 1); bar.value = m.done;
          count.textContent = m.done + " of " + m.total + " events";
        } else if (m.html !== undefined) {
          box.hidden = true; report.innerHTML = m.html; report.querySelector("h2").focus();
        } else if (m.error !== undefined) {
          box.hidden = true; report.innerHTML = "";
          var p = document.createElement("p"); p.className = "error"; p.setAttribute("role", "alert");
          p.textContent = m.error; report.appendChild(p);
        }
      };
      var pump = function () {
        return reader.read().then(function (r) {
          buf += decoder.decode(r.value || new Uint8Array(), { stream: !r.done });
          var lines = buf.split("\n"); buf = lines.pop();
          lines.forEach(line);
          if (r.done) { line(buf); done(); return; }
          return pump();
        });
      };
      return pump();
    }).catch(function (err) {
      done(); count.textContent = "The verify did not finish: " + err.message;
    });
  });
});
