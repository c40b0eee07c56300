// The virtual panel: buttons drive the box's mock pins, the LEDs show the pins (polled).
"use strict";
(function () {
  var root = document.querySelector("[data-panel]");
  if (!root) { return; }
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var statusLine = document.querySelector("[data-panel-status]");
  var meaning = document.querySelector("[data-led-meaning]");
  var holdTimer = document.querySelector("[data-hold-timer]");
  var gestureList = document.querySelector("[data-gestures]");
  var POLL_MS = 100;
  var lastGestures = "";

  function say(text) { if (statusLine) { statusLine.textContent = text; } }

  function rgb(c) {
    var v = c.map(function (x) { return Math.round(Math.max(0, Math.min(1, x)) * 255); });
    return "rgb(" + v.join(",") + ")";
  }
  function lit(c) { return c[0] + c[1] + c[2] > 0.02; }

  function paint(name, color, label) {
    var el = root.querySelector('[data-led="' + name + '"]');
    var text = root.querySelector('[data-led-pattern="' + name + '"]');
    if (el) {
      el.style.backgroundColor = lit(color) ? rgb(color) : "";
      el.style.boxShadow = lit(color) ? "0 0 18px 4px " + rgb(color) : "";
      el.setAttribute("data-color", color.join(","));
      el.setAttribute("data-lit", lit(color) ? "1" : "0");
      el.setAttribute("aria-label", name + " light: " + label);
    }
    if (text) { text.textContent = label; }
  }

  function render(data) {
    var leds = data.leds;
    paint("status", leds.status.color, leds.status.pattern);
    paint("mood", leds.mood.color, leds.mood.pattern);
    paint("camera", leds.camera.on ? [1, 0, 0] : [0, 0, 0], leds.camera.on ? "on" : "off");
    if (meaning) {
      var spec = leds.status.spec;
      meaning.textContent = spec ? spec.meaning.charAt(0).toUpperCase() + spec.meaning.slice(1) : "";
    }
    Object.keys(data.buttons).forEach(function (name) {
      var b = root.querySelector('[data-button="' + name + '"]');
      if (b) { b.classList.toggle("pin-low", !!data.buttons[name].pressed); }
    });
    if (holdTimer) {
      holdTimer.textContent = data.countdown != null ? "Factory reset in " +
        Math.max(0, Math.ceil((1 - data.countdown) * 10)) + "…" :
        (data.armed ? "Release both, then press Play + Next again to erase everything." : "");
    }
    var names = data.recent.map(function (g) { return g.gesture; });
    var key = data.recent.map(function (g) { return g.gesture + "@" + g.t; }).join("|");
    if (gestureList && key !== lastGestures) {
      lastGestures = key;
      gestureList.textContent = "";
      names.slice().reverse().forEach(function (n) {
        var li = document.createElement("li");
        li.textContent = n;
        gestureList.appendChild(li);
      });
      if (!names.length) {
        var none = document.createElement("li"); none.className = "muted"; none.textContent = "None yet.";
        gestureList.appendChild(none);
      }
    }
  }

  var polling = false;
  function poll() {
    if (document.hidden) { polling = false; return; }
    polling = true;
    fetch("/api/panel", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (res) {
        if (res.body && res.body.data) { render(res.body.data); say(""); }
        else if (res.body && res.body.error) { say(res.body.error.message); }
      })
      .catch(function () { say("The box does not answer; is it still running?"); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  document.addEventListener("visibilitychange", function () { if (!document.hidden && !polling) { poll(); } });

  // Each button's requests are sent in order (a release never overtakes its press).
  var queues = {};
  function send(name, action) {
    var prev = queues[name] || Promise.resolve();
    var next = prev.then(function () {
      return fetch("/api/panel/buttons/" + name, {
        method: "POST", credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ action: action })
      }).then(function (r) { return r.json(); }).then(function (b) {
        if (b.error) { say(b.error.message); } else if (b.data) { render(b.data); }
      }).catch(function () { say("The press did not reach the box; try again."); });
    });
    queues[name] = next;
    return next;
  }

  root.querySelectorAll("[data-button]").forEach(function (btn) {
    var name = btn.getAttribute("data-button");
    var down = false;
    function press(ev) {
      if (ev) { ev.preventDefault(); }
      if (down) { return; }
      down = true;
      btn.setAttribute("aria-pressed", "true");
      send(name, "down");
    }
    function release() {
      if (!down) { return; }
      down = false;
      btn.setAttribute("aria-pressed", "false");
      send(name, "up");
    }
    btn.addEventListener("pointerdown", function (ev) {
      if (ev.button !== undefined && ev.button > 0) { return; }
      if (btn.setPointerCapture) { try { btn.setPointerCapture(ev.pointerId); } catch (e) { /* old browsers */ } }
      press(ev);
    });
    btn.addEventListener("pointerup", release);
    btn.addEventListener("pointercancel", release);
    btn.addEventListener("lostpointercapture", release);
    btn.addEventListener("contextmenu", function (ev) { ev.preventDefault(); });
    btn.addEventListener("keydown", function (ev) {
      if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) { press(ev); }
    });
    btn.addEventListener("keyup", function (ev) {
      if (ev.key === " " || ev.key === "Enter") { ev.preventDefault(); release(); }
    });
    btn.addEventListener("blur", release);
  });
  window.addEventListener("pagehide", function () {
    root.querySelectorAll('[data-button][aria-pressed="true"]').forEach(function (b) {
      b.setAttribute("aria-pressed", "false");
      send(b.getAttribute("data-button"), "up");
    });
  });

  poll();
})();
