/* Disclosure menus ("Actions"): a button with aria-expanded shows a list of links and buttons.
 * Enter, Space or ArrowDown open it on its first item; the arrow keys move between items;
 * Escape closes it and gives the focus back to the button; a click or the focus elsewhere
 * closes it. Without JavaScript the items are shown as plain buttons (app.css, scripting: none). */
(function () {
  "use strict";
  document.querySelectorAll("[data-menu]").forEach(function (root) {
    var button = root.querySelector("[data-menu-button]");
    var menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) return;

    function items() {
      return Array.prototype.slice.call(menu.querySelectorAll("a[href], button:not([disabled])"));
    }
    function setOpen(open, focusFirst) {
      if (open) {
        // Open towards the side with room: a button on the left of the screen (a phone's
        // wrapped row of buttons) opens its menu to the right, else to the left.
        var box = button.getBoundingClientRect();
        menu.classList.toggle("from-left", box.left + box.width / 2 < window.innerWidth / 2);
      }
      menu.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open && focusFirst && items().length) items()[0].focus();
    }
    function close(returnFocus) {
      if (menu.hidden) return;
      setOpen(false);
      if (returnFocus) button.focus({ preventScroll: true });
    }

    button.addEventListener("click", function (event) {
      // Enter and Space fire a click with detail 0: then the focus goes to the first item.
      setOpen(menu.hidden, event.detail === 0);
    });
    root.addEventListener("keydown", function (event) {
      var list = items(), at = list.indexOf(document.activeElement);
      if (event.key === "Escape" && !menu.hidden) {
        event.preventDefault();
        close(true);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (menu.hidden) { setOpen(true, true); return; }
        var step = event.key === "ArrowDown" ? 1 : -1;
        list[(at + step + list.length) % list.length].focus();
      } else if ((event.key === "Home" || event.key === "End") && at !== -1) {
        event.preventDefault();
        list[event.key === "Home" ? 0 : list.length - 1].focus();
      }
    });
    // Choosing an item closes the menu; the item's own handler (a dialog, a panel) runs first
    // and may move the focus; if it did not, the focus goes back to the menu's button.
    menu.addEventListener("click", function (event) {
      if (event.target.closest("a[href], button")) close(menu.contains(document.activeElement));
    });
    document.addEventListener("click", function (event) {
      if (!root.contains(event.target)) close(false);
    });
    root.addEventListener("focusout", function (event) {
      if (event.relatedTarget && !root.contains(event.relatedTarget)) close(false);
    });
  });
})();
