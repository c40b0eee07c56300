// MoodDJ setup page: small progressive enhancements. The pages work without this file.
"use strict";
(function () {
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); });
  }
  function postJSON(url, data) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(data || {})
    }).then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); });
  }
  function text(el, value) { if (el) { el.textContent = value; } }
  function cap(word) { word = String(word || ""); return word.charAt(0).toUpperCase() + word.slice(1); }
  var SETUP_STEPS = {
    unclaimed: ["Not claimed", ""], no_account: ["Waiting for a sign-in", ""],
    no_spotify: ["Link Spotify next", "/spotify#link"], no_speaker: ["Choose a speaker next", "/spotify#speaker"],
    done: ["Done", ""]
  };

  // Confirmation for destructive forms.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });

  // Copy buttons (navigator.clipboard needs a secure context; plain http falls back to selection).
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    var target = document.querySelector(btn.getAttribute("data-copy"));
    if (!target) { return; }
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var value = target.textContent.trim();
      var done = function () { btn.textContent = "Copied"; setTimeout(function () { btn.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(done, function () { fallback(); });
      } else { fallback(); }
      function fallback() {
        var area = document.createElement("textarea");
        area.value = value; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
        document.body.appendChild(area); area.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* selection stays for manual copy */ }
        document.body.removeChild(area);
        var range = document.createRange(); range.selectNodeContents(target);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      }
    });
  });

  // Countdowns: seconds left, ticking down; the page reloads when one reaches zero.
  document.querySelectorAll("[data-countdown]").forEach(function (el) {
    var end = Date.now() + parseInt(el.getAttribute("data-countdown"), 10) * 1000;
    var timer = setInterval(function () {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      text(el, String(left));
      if (left <= 0) { clearInterval(timer); setTimeout(function () { location.reload(); }, 1200); }
    }, 1000);
  });

  // Pairing: poll while waiting for the Play button, then collect the approval.
  var pair = document.querySelector("[data-pair-status]");
  if (pair && pair.getAttribute("data-pair-state") === "pending") {
    var pairTimer = setInterval(function () {
      getJSON(pair.getAttribute("data-pair-status")).then(function (r) {
        var st = r.body && r.body.data ? r.body.data.state : "";
        if (st === "approved") {
          clearInterval(pairTimer);
          text(pair.querySelector("[data-pair-message]"), "Approved! Finishing…");
          postJSON("/pair/complete").then(function (c) {
            location.href = (c.body && c.body.data && c.body.data.next) || "/signin";
          });
        } else if (st && st !== "pending") { clearInterval(pairTimer); location.reload(); }
      }).catch(function () { /* keep trying */ });
    }, 1500);
  }
  // Forms answered with an address on another site (Spotify's authorize page): the page's
  // CSP (form-action 'self') stops a form from being redirected there, so post JSON and go.
  document.querySelectorAll("form[data-follow]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var key = form.getAttribute("data-follow");
      var say = function (message) {
        var out = form.querySelector("[data-follow-error]");
        if (!out) {
          out = document.createElement("p"); out.className = "warn"; out.setAttribute("role", "alert");
          out.setAttribute("data-follow-error", ""); form.appendChild(out);
        }
        text(out, message);
      };
      postJSON(form.getAttribute("action")).then(function (r) {
        var url = r.body && r.body.data && r.body.data[key];
        if (url) { location.href = url; return; }
        say((r.body && r.body.error && r.body.error.message) || "That did not work; reload the page and try again.");
      }).catch(function () { say("The box did not answer; check the connection and try again."); });
    });
  });

  var auto = document.querySelector("form[data-autosubmit]");
  if (auto) { auto.submit(); }

  // Device-flow sign-in: poll the box (which polls the provider) until approved.
  var flow = document.querySelector("[data-flow-status]");
  if (flow && flow.getAttribute("data-flow-state") === "pending") {
    var every = Math.max(2, Math.min(5, parseFloat(flow.getAttribute("data-interval")) || 5)) * 1000;
    var poll = function () {
      getJSON(flow.getAttribute("data-flow-status")).then(function (r) {
        var d = r.body && r.body.data;
        if (!d) {
          text(flow.querySelector("[data-flow-message]"), (r.body.error || {}).message || "Checking…");
          if (r.status >= 400 && r.status < 500 && r.status !== 429) { return; }  // final: say why and stop
          setTimeout(poll, every); return;
        }
        if (d.state === "approved") { text(flow.querySelector("[data-flow-message]"), "Approved! Signing you in…"); location.href = d.redirect || "/"; return; }
        if (d.state !== "pending") { location.reload(); return; }
        setTimeout(poll, every);
      }).catch(function () { setTimeout(poll, every); });
    };
    setTimeout(poll, every);
  }

  // Live updates on the home page.
  var live = document.querySelector("[data-live]");
  if (live && window.WebSocket) {
    var note = document.querySelector("[data-live-status]");
    var field = function (name) { return document.querySelector('[data-field="' + name + '"]'); };
    var errors = document.querySelector("[data-errors]");
    var connect = function (delay) {
      var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
      ws.onopen = function () { text(note, "Live"); delay = 1000; };
      ws.onclose = function (ev) {
        // 1008: another tab of this browser took over, or the browser was unpaired.
        if (ev.code === 1008) { text(note, "Live updates stopped: reload to resume"); return; }
        text(note, "Reconnecting…");
        setTimeout(function () { connect(Math.min(delay * 2, 30000)); }, delay);
      };
      ws.onmessage = function (msg) {
        var ev; try { ev = JSON.parse(msg.data); } catch (e) { return; }
        var d = ev.data || {};
        if (ev.type === "MoodReading") {
          var nobody = d.faces === 0;
          text(field("mood"), d.mood && !nobody ? cap(d.mood) : "–");
          text(field("mood-detail"), nobody ? "Nobody in view"
            : Math.round((d.confidence || 0) * 100) + "% sure" + (d.stable ? "" : ", settling"));
          var tile = document.querySelector('[data-tile="mood"]');
          if (tile) { tile.className = "card tile mood mood-" + (nobody ? "none" : d.mood); }
          if (!document.querySelector("[data-tile=people]").dataset.presence) { text(field("people"), String(d.faces)); }
        } else if (ev.type === "PresenceChanged") {
          document.querySelector("[data-tile=people]").dataset.presence = "1";
          text(field("people"), String(d.people));
        } else if (ev.type === "PlayerState") {
          text(field("track"), d.track_name || "Nothing");
          text(field("artists"), d.track_name
            ? d.artists + (d.speaker ? " · on " + d.speaker : "") + (d.mood ? " · " + cap(d.mood) + " music" : "") +
              (d.state !== "playing" ? " · " + d.state : "")
            : (cap(d.state) + (d.detail ? ": " + d.detail : "")));
        } else if (ev.type === "SetupProgress") {
          var step = field("setup");
          if (step) {
            var next = SETUP_STEPS[d.step] || [d.step, ""];
            step.textContent = "";
            if (next[1] && document.querySelector(".who")) {
              var a = document.createElement("a"); a.href = next[1]; a.textContent = next[0]; step.appendChild(a);
            } else { step.textContent = next[0]; }
          }
          var nextCard = document.querySelector("[data-next-step]");
          if (nextCard && d.step === "done") { nextCard.remove(); }
        } else if (ev.type === "CameraState") {
          text(field("camera"), d.capturing ? "Camera on" : "Camera not capturing" + (d.error ? ": " + d.error : ""));
        } else if (ev.type === "PrivacyChanged") {
          text(field("camera"), d.enabled ? "Privacy mode on" : "Camera on");
          if (d.enabled) { text(field("mood"), "Camera off"); }
        } else if (ev.type === "ErrorRaised" && errors) {
          var old = errors.querySelector('[data-error-key="' + CSS.escape(d.key) + '"]');
          var box = old || document.createElement("div");
          box.className = "card error"; box.setAttribute("data-error-key", d.key); box.textContent = "";
          var strong = document.createElement("strong"); strong.textContent = d.message; box.appendChild(strong);
          if (d.hint) { box.appendChild(document.createElement("br")); var s = document.createElement("span"); s.textContent = d.hint; box.appendChild(s); }
          if (!old) { errors.appendChild(box); }
        } else if (ev.type === "ErrorCleared" && errors) {
          var gone = errors.querySelector('[data-error-key="' + CSS.escape(d.key) + '"]');
          if (gone) { gone.remove(); }
        }
      };
    };
    connect(1000);
  }
})();
