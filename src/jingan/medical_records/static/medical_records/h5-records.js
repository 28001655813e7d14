// Copy-application form helpers: no inline scripts (CSP), plain DOM, works without it too.
(function () {
  "use strict";

  function applicantType() {
    var form = document.querySelector("[data-mr-applicant]");
    if (!form) return;
    function show() {
      var checked = form.querySelector("input[name=applicant_type]:checked");
      var type = checked ? checked.value : "self";
      form.querySelectorAll("[data-mr-for]").forEach(function (block) {
        var visible = block.getAttribute("data-mr-for").split(" ").indexOf(type) !== -1;
        block.hidden = !visible;
        block.querySelectorAll("input").forEach(function (input) { input.disabled = !visible; });
      });
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "applicant_type") show();
    });
    show();
  }

  function purposeSections() {
    var form = document.querySelector("[data-mr-details]");
    if (!form) return;
    var source = document.getElementById("mr-purpose-sections");
    var mapping = source ? JSON.parse(source.textContent) : {};
    function delivery() {
      var checked = form.querySelector("input[name=delivery_method]:checked");
      var mail = form.querySelector("[data-mr-mail]");
      if (mail) mail.hidden = !checked || checked.value !== "mail";
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "purpose" && mapping[event.target.value]) {
        var wanted = mapping[event.target.value];
        form.querySelectorAll("input[name=sections]").forEach(function (box) {
          box.checked = wanted.indexOf(box.value) !== -1;
        });
      }
      if (event.target.name === "delivery_method") delivery();
    });
    delivery();
  }

  document.addEventListener("DOMContentLoaded", function () {
    applicantType();
    purposeSections();
  });
})();
