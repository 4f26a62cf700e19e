// Per-row action menus (<details class="cc-row-menu">) of the Failed Pairings page. They
// work without this script; with it, one menu is open at a time, opening one puts the
// focus on its first field, and Escape closes it and returns the focus to its button.
(function () {
  const menus = Array.from(document.querySelectorAll("details.cc-row-menu"));
  menus.forEach(function (menu) {
    menu.addEventListener("toggle", function () {
      if (!menu.open) return;
      menus.forEach(function (other) { if (other !== menu) other.open = false; });
      const first = menu.querySelector("select, input:not([type=hidden])");
      if (first) first.focus();
    });
    menu.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !menu.open) return;
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });
})();
