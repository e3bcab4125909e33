// The form: after a failed submit, focus moves to the error summary, whose links lead
// to each field. (`autofocus` does the same where the browser honours it.)
"use strict";
const summary = document.getElementById("error-summary");
if (summary) {
  summary.focus();
}
