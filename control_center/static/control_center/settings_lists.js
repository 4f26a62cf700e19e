// The Settings page's list editors (crisis phrases, crisis resources): a Remove button per
// row and an Add button. Without this script the page still works: the server renders a
// few spare empty rows, and clearing a row removes it (empty rows are dropped on save).
(function () {
  document.querySelectorAll("[data-list-editor]").forEach(editor => {
    const rows = editor.querySelector("[data-rows]");
    const template = editor.querySelector("template[data-row-template]");
    const noun = editor.dataset.noun;
    rows.querySelectorAll("[data-spare]").forEach(row => row.remove());
    editor.querySelectorAll("button[hidden]").forEach(button => { button.hidden = false; });

    function renumber() {
      [...rows.querySelectorAll(".cc-list-row")].forEach((row, index) => {
        const number = index + 1;
        const inputs = row.querySelectorAll("input");
        if (noun === "phrase") {
          inputs[0].setAttribute("aria-label", "Phrase " + number);
        } else {
          const fields = ["name", "contact", "url", "hours"];
          inputs.forEach((input, i) => input.setAttribute("aria-label", "Resource " + number + " " + fields[i]));
        }
        row.querySelector(".cc-remove").setAttribute("aria-label", "Remove " + noun + " " + number);
      });
    }
    rows.addEventListener("click", event => {
      const button = event.target.closest(".cc-remove");
      if (!button) return;
      const row = button.closest(".cc-list-row");
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber();
      (next ? next.querySelector("input") : editor.querySelector(".cc-add")).focus();
    });
    editor.querySelector(".cc-add").addEventListener("click", () => {
      const row = template.content.firstElementChild.cloneNode(true);
      rows.appendChild(row);
      renumber();
      row.querySelector("input").focus();
    });
    renumber();
  });
})();
