// Shipyard's pages work without this script: every form posts and redirects. With it:
//  - forms marked data-api="METHOD /api/path" call the JSON API instead and show its errors
//    next to the form, in words;
//  - the page follows its live event stream (data-events) and re-renders the parts that changed
//    (data-live sections), leaving alone a part that is being edited;
//  - notes are edited in place, dependencies are picked in a dialog, the exclude checkbox saves
//    on change, and creating a release shows its progress.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  // ---------------------------------------------------------------- messages

  function sentence(text) {
    var s = String(text || "").trim();
    if (!s) return s;
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + ".";
  }

  function showError(el, text) {
    if (!el) return;
    el.textContent = sentence(text);
    el.hidden = !text;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error], [data-error-for]").forEach(function (el) {
      el.textContent = "";
      el.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
    });
  }

  // An API error goes next to the field it names ("source_branch: …"), else under the form.
  function placeError(form, message) {
    var m = /^([a-z_]+): ([\s\S]*)$/.exec(message);
    if (m) {
      var target = form.querySelector('[data-error-for="' + m[1] + '"]');
      if (target) {
        showError(target, m[2]);
        var input = form.querySelector('[name="' + m[1] + '"]');
        if (input) {
          input.setAttribute("aria-invalid", "true");
          input.focus();
        }
        return;
      }
    }
    showError(form.querySelector("[data-error]"), message);
  }

  // ---------------------------------------------------------------- forms → API

  function jsonBody(form) {
    var body = {};
    var any = false;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf" || el.disabled) return;
      if (el.tagName === "BUTTON" || el.type === "submit") return;
      var type = el.getAttribute("data-type");
      any = true;
      if (el.type === "checkbox" && type === "bool") {
        body[el.name] = el.checked;
      } else if (el.type === "checkbox" && type === "list") {
        if (!Array.isArray(body[el.name])) body[el.name] = [];
        if (el.checked) body[el.name].push(el.value);
      } else if (el.type === "checkbox") {
        if (el.checked) body[el.name] = el.value;
      } else {
        body[el.name] = el.value;
      }
    });
    var list = form.getAttribute("data-list");
    if (list && !Array.isArray(body[list])) {
      body[list] = [];
      any = true;
    }
    return any ? body : null;
  }

  function callApi(method, path, body) {
    var headers = { Accept: "application/json", "X-CSRF-Token": csrf };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(
      function (resp) {
        return resp.json().then(
          function (data) {
            return { ok: resp.ok, status: resp.status, data: data };
          },
          function () {
            return { ok: resp.ok, status: resp.status, data: null };
          }
        );
      },
      function () {
        return { ok: false, status: 0, data: null };
      }
    );
  }

  function failureText(result) {
    if (result.status === 0) return "Shipyard could not be reached: check the connection and try again";
    if (result.status === 401) return "Your session has ended: reload the page to sign in again";
    if (result.data && result.data.error && result.data.error.message) return result.data.error.message;
    return "Something went wrong (HTTP " + result.status + ")";
  }

  function startProgress(form) {
    var box = form.querySelector("[data-progress-box]");
    if (!box) return function () {};
    var elapsed = box.querySelector("[data-elapsed]");
    var started = Date.now();
    box.hidden = false;
    var tick = function () {
      if (elapsed) elapsed.textContent = Math.floor((Date.now() - started) / 1000) + " s";
    };
    tick();
    var timer = setInterval(tick, 1000);
    return function () {
      clearInterval(timer);
      box.hidden = true;
    };
  }

  function busy(form, on) {
    form.querySelectorAll('button[type="submit"]').forEach(function (b) {
      if (on) {
        b.disabled = true;
        var label = b.getAttribute("data-busy");
        if (label) {
          b.setAttribute("data-idle", b.textContent);
          b.textContent = label;
        }
      } else {
        b.disabled = false;
        var idle = b.getAttribute("data-idle");
        if (idle) b.textContent = idle;
      }
    });
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var spec = form.getAttribute && form.getAttribute("data-api");
    if (!spec) return;
    var confirmText = form.getAttribute("data-confirm");
    if (confirmText && !window.confirm(confirmText)) {
      ev.preventDefault();
      return;
    }
    ev.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    var parts = spec.split(" ");
    var body = jsonBody(form);
    clearErrors(form);
    busy(form, true);
    var stop = startProgress(form);
    callApi(parts[0], parts[1], body).then(function (result) {
      stop();
      busy(form, false);
      if (!result.ok) {
        form.querySelectorAll("[data-autosubmit]").forEach(function (box) {
          box.checked = !box.checked;
        });
        placeError(form, failureText(result));
        return;
      }
      if (form.id === "new-release-form" && result.data && result.data.release) {
        window.location.assign("/releases/" + encodeURIComponent(result.data.release.id));
        return;
      }
      var dialog = form.closest("dialog");
      if (dialog) dialog.close();
      var section = form.closest("[data-live]");
      if (section && section.classList.contains("editing")) stopEditing(section);
      refreshLive();
    });
  });

  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });

  // ---------------------------------------------------------------- edit in place

  function startEditing(button) {
    var form = document.getElementById(button.getAttribute("data-edit"));
    var section = button.closest("[data-live]");
    if (!form || !section) return false;
    section.classList.add("editing");
    section.querySelectorAll("[data-view]").forEach(function (v) {
      v.hidden = true;
    });
    button.hidden = true;
    form.hidden = false;
    var first = form.querySelector("textarea, input:not([type=hidden])");
    if (first) first.focus();
    return true;
  }

  function stopEditing(section) {
    section.classList.remove("editing");
    section.querySelectorAll("[data-edit]").forEach(function (button) {
      var form = document.getElementById(button.getAttribute("data-edit"));
      if (form) {
        form.reset();
        clearErrors(form);
        form.hidden = true;
      }
      button.hidden = false;
    });
    section.querySelectorAll("[data-view]").forEach(function (v) {
      v.hidden = false;
    });
    if (pending.has(section.id)) refreshLive();
  }

  // A page rendered with its editor open (?edit=notes, or after a refused save) is being edited.
  document.querySelectorAll("[data-edit]").forEach(function (button) {
    var form = document.getElementById(button.getAttribute("data-edit"));
    var section = button.closest("[data-live]");
    if (form && section && !form.hidden) section.classList.add("editing");
  });

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-edit], [data-cancel], [data-dialog]") : null;
    if (!el) return;
    if (el.hasAttribute("data-edit")) {
      if (startEditing(el)) ev.preventDefault();
    } else if (el.hasAttribute("data-cancel")) {
      var dialog = el.closest("dialog");
      if (dialog) {
        ev.preventDefault();
        dialog.close();
        return;
      }
      var section = el.closest("[data-live]");
      if (section && section.classList.contains("editing")) {
        ev.preventDefault();
        stopEditing(section);
      }
    } else if (el.hasAttribute("data-dialog")) {
      ev.preventDefault();
      openDialog(el.getAttribute("href"));
    }
  });

  // ---------------------------------------------------------------- dialog

  function openDialog(href) {
    var dialog = document.getElementById("dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      window.location.assign(href);
      return;
    }
    fetch(href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (resp) {
        if (!resp.ok || resp.redirected) throw new Error("HTTP " + resp.status);
        return resp.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var form = doc.getElementById("repo-form");
        if (!form) throw new Error("no form");
        dialog.replaceChildren(document.importNode(form, true));
        dialog.showModal();
        var first = dialog.querySelector("input[type=search], input[type=checkbox]");
        if (first) first.focus();
      })
      .catch(function () {
        window.location.assign(href);
      });
  }

  document.addEventListener("input", function (ev) {
    var el = ev.target;
    var sel = el.getAttribute && el.getAttribute("data-filter");
    if (!sel) return;
    var scope = el.form || document;
    var list = scope.querySelector(sel);
    if (!list) return;
    var needle = el.value.trim().toLowerCase();
    list.querySelectorAll("[data-name]").forEach(function (label) {
      label.hidden = needle !== "" && label.getAttribute("data-name").toLowerCase().indexOf(needle) < 0;
    });
  });

  // ---------------------------------------------------------------- live updates

  var pending = new Set();
  var inFlight = false;
  var again = false;

  function replaceSection(current, fresh) {
    var active = document.activeElement;
    var activeId = active && current.contains(active) ? active.id : null;
    var replacement = document.importNode(fresh, true);
    current.replaceWith(replacement);
    if (activeId) {
      var back = document.getElementById(activeId);
      if (back) back.focus();
    }
  }

  function applyPage(doc) {
    document.querySelectorAll("[data-live][id]").forEach(function (current) {
      var fresh = doc.getElementById(current.id);
      if (!fresh) return;
      if (current.classList.contains("editing")) {
        pending.add(current.id);
        return;
      }
      pending.delete(current.id);
      if (current.innerHTML !== fresh.innerHTML) replaceSection(current, fresh);
    });
    if (doc.title) document.title = doc.title;
  }

  function refreshLive() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    // The page as it is now, without `?edit=…`: an editor opened here is the script's business.
    var url = new URL(window.location.href);
    url.searchParams.delete("edit");
    fetch(url.pathname + url.search, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
    })
      .then(function (resp) {
        if (resp.redirected && resp.url.indexOf("/auth/login") >= 0) {
          throw new Error("signed out");
        }
        return resp.text();
      })
      .then(function (text) {
        applyPage(new DOMParser().parseFromString(text, "text/html"));
      })
      .catch(function () {})
      .then(function () {
        inFlight = false;
        if (again) {
          again = false;
          refreshLive();
        }
      });
  }

  var timer = null;
  function scheduleRefresh() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      refreshLive();
    }, 100);
  }

  function follow(url) {
    if (typeof EventSource !== "function") return;
    var source = new EventSource(url);
    var broken = false;
    source.addEventListener("release", scheduleRefresh);
    // The server may have missed changes (it lost its link to the other replicas for a
    // moment): re-read everything shown.
    source.addEventListener("resync", scheduleRefresh);
    source.addEventListener("open", function () {
      // Back after a break: events may have been missed.
      if (broken) scheduleRefresh();
      broken = false;
    });
    source.addEventListener("error", function () {
      broken = true;
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(function () {
          follow(url);
        }, 5000);
      }
    });
  }

  var live = document.querySelector("[data-events]");
  if (live) follow(live.getAttribute("data-events"));
})();
