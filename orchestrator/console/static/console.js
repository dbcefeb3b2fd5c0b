// remint console: the schedule picker with its live preview, live job progress (SSE),
// and a live History table. Everything works without it, only less live.
"use strict";
(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }

  // Forms that ask before they submit (delete).
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); });
  });

  // The schedule form: picker → rrule, rrule → preview of the next 5 runs.
  document.querySelectorAll("form.schedule-form").forEach(function (form) {
    var repeat = $("#s-repeat", form), day = $("#s-day", form), time = $("#s-time", form), zone = $("#s-zone", form);
    var rrule = $("#s-rrule", form), win = $("#s-window", form), list = $("#preview", form), err = $("#preview-error", form);
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    function build() {
      var t = (time.value || "03:00").split(":"), d = new Date();
      var start = "" + d.getFullYear() + pad(d.getMonth() + 1) + pad(d.getDate()) + "T" + t[0] + t[1] + "00";
      var rule;
      switch (repeat.value) {
        case "daily": rule = "FREQ=DAILY"; break;
        case "monthly-first-saturday": rule = "FREQ=MONTHLY;BYDAY=1SA"; break;
        default: rule = "FREQ=WEEKLY;BYDAY=" + day.value;
      }
      return "DTSTART;TZID=" + (zone.value.trim() || "UTC") + ":" + start + " RRULE:" + rule;
    }
    function sync() {
      $(".for-weekly", form).hidden = repeat.value !== "weekly";
      if (repeat.value !== "custom") rrule.value = build();
      preview();
    }
    var timer = null, seq = 0;
    function preview() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var my = ++seq, asked = rrule.value;
        var q = "?n=5&rrule=" + encodeURIComponent(asked) + "&window=" + encodeURIComponent(win.value || "1");
        fetch(form.dataset.preview + q, { credentials: "same-origin" }).then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        }).then(function (res) {
          if (my !== seq) return;
          list.textContent = "";
          err.textContent = res.ok ? "" : res.body.error;
          (res.body.runs || []).forEach(function (run) {
            var li = document.createElement("li");
            li.textContent = run.start_local + " (" + run.start.replace("T", " ").replace("Z", " UTC") + ")";
            list.appendChild(li);
          });
          if (res.ok && !(res.body.runs || []).length) err.textContent = "the rule has no further runs";
          list.dataset.rule = asked; // which rule the list shows (tests wait for it)
        }).catch(function (e) { err.textContent = "preview failed: " + e; });
      }, 200);
    }
    [repeat, day, time, zone].forEach(function (el) { el.addEventListener("input", sync); el.addEventListener("change", sync); });
    rrule.addEventListener("input", function () { repeat.value = "custom"; $(".for-weekly", form).hidden = true; preview(); });
    win.addEventListener("input", preview);
    if (rrule.value.trim() === "") sync(); else { $(".for-weekly", form).hidden = true; preview(); }
  });

  // A job page follows its job over server-sent events until it ends.
  var job = $("#job");
  if (job && (job.dataset.status === "queued" || job.dataset.status === "running") && window.EventSource) {
    var es = new EventSource("/jobs/" + job.dataset.job + "/events");
    es.addEventListener("job", function (e) {
      var j = JSON.parse(e.data);
      var st = $("#job-status");
      st.textContent = j.status; st.className = "status s-" + j.status;
      job.dataset.status = j.status;
      $("#job-attempt").textContent = j.attempt;
      $("#job-installed").textContent = j.installed;
      $("#job-failed").textContent = j.failed;
      $("#job-reason").textContent = j.reason || "–";
      if (j.started) $("#job-started").textContent = fmt(j.started);
      if (j.ended) $("#job-ended").textContent = fmt(j.ended);
      var ol = $("#events"); ol.textContent = "";
      (j.events || []).forEach(function (ev) {
        var li = document.createElement("li"); li.className = "lvl-" + ev.level;
        var t = document.createElement("time"); t.dateTime = ev.time; t.textContent = fmt(ev.time);
        li.appendChild(t); li.appendChild(document.createTextNode(" " + ev.message)); ol.appendChild(li);
      });
    });
    es.addEventListener("end", function () { es.close(); });
  }
  function fmt(s) { return new Date(s).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC"); }

  // History with an unfinished update reloads itself until nothing runs.
  var live = document.querySelector("[data-live]");
  function reload() { if (document.querySelector("form :focus")) setTimeout(reload, 3000); else location.reload(); }
  if (live) setTimeout(reload, Number(live.dataset.live));
})();
