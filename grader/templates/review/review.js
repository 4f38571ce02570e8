// Keyboard navigation of the review page (served as a file: the CSP allows no inline script).
(() => {
  "use strict";
  const answers = () => Array.from(document.querySelectorAll("article.answer"));
  const groups = () => Array.from(document.querySelectorAll("section.group"));
  let current = -1;
  const show = (list, i) => {
    if (!list.length) return;
    const el = list[Math.max(0, Math.min(i, list.length - 1))];
    for (const a of document.querySelectorAll("article.answer.current")) a.classList.remove("current");
    el.classList.add("current");
    el.focus({preventScroll: true});
    el.scrollIntoView({block: "start"});
    return el;
  };
  const here = () => {
    const list = answers();
    return current >= 0 && current < list.length ? list[current] : null;
  };
  const groupOf = (el) => (el ? el.closest("section.group") : null);
  const moveGroup = (step) => {
    const gs = groups();
    const g = groupOf(here()) || (step > 0 ? null : gs[0]);
    let gi = g ? gs.indexOf(g) + step : 0;
    gi = Math.max(0, Math.min(gi, gs.length - 1));
    const first = gs[gi] && gs[gi].querySelector("article.answer");
    if (first) {
      current = answers().indexOf(first);
      show(answers(), current);
    }
  };
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) {
      if (event.key === "Escape") t.blur();
      return;
    }
    const list = answers();
    if (event.key === "j") { current = Math.min(current + 1, list.length - 1); show(list, current); }
    else if (event.key === "k") { current = Math.max(current - 1, 0); show(list, current); }
    else if (event.key === "n") moveGroup(1);
    else if (event.key === "p") moveGroup(-1);
    else if (event.key === "s" || event.key === "c") {
      const a = here();
      const field = a && a.querySelector(event.key === "s" ? "input.score" : "select.comment");
      if (field) field.focus();
    } else if (event.key === "a") {
      const g = groupOf(here());
      const button = g && g.querySelector("form.group-form button.accept");
      if (button) button.click();
    } else return;
    event.preventDefault();
  });
  // after a decision the server sends us back to the answer (or group) we were on
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) {
    const first = target.matches("article.answer") ? target : target.querySelector("article.answer");
    if (first) { current = answers().indexOf(first); show(answers(), current); }
  }
})();
