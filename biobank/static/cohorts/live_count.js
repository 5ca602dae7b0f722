// Live count of the cohort builder: as the filters change, ask the server how many
// pairs they match and say it in the form's status region. Without JavaScript the
// form works as before; the count then comes with the results.
(function () {
  "use strict";

  var form = document.getElementById("cohort-filters");
  var region = document.getElementById("live-count");
  if (!form || !region || !window.fetch) {
    return;
  }

  var url = form.getAttribute("data-count-url");
  var timer = null;
  var latest = 0;

  function errorText(errors) {
    var parts = [];
    Object.keys(errors).forEach(function (field) {
      parts.push(field.replace(/_/g, " ") + ": " + errors[field].join(" "));
    });
    return "Correct the filters to count the pairs (" + parts.join("; ") + ").";
  }

  function updateCount() {
    var params = new URLSearchParams(new FormData(form));
    // Each answer is shown only if no newer question was asked meanwhile:
    var asked = ++latest;
    region.textContent = "Counting…";
    fetch(url + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (answer) {
        if (asked !== latest) {
          return;
        }
        if (answer.ok) {
          region.textContent = answer.body.text;
        } else if (answer.body.errors) {
          region.textContent = errorText(answer.body.errors);
        } else {
          region.textContent = answer.body.detail || "The count is not available.";
        }
      })
      .catch(function () {
        if (asked === latest) {
          region.textContent = "The count is not available; use Find pairs.";
        }
      });
  }

  function scheduleCount() {
    // Typing a number fires an event per key; ask once the typing pauses.
    window.clearTimeout(timer);
    timer = window.setTimeout(updateCount, 300);
  }

  form.addEventListener("input", scheduleCount);
  form.addEventListener("change", scheduleCount);
  updateCount();
})();
