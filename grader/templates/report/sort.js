
(() => {
  const table = document.getElementById("students");
  if (!table) return;
  const heads = Array.from(table.tHead.rows[0].cells);
  const body = table.tBodies[0];
  const key = (row, col) => {
    const cell = row.cells[col];
    if (!cell) return "";
    const v = cell.dataset.v;
    return v === undefined ? cell.textContent.trim() : v;
  };
  heads.forEach((th, col) => {
    const button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", () => {
      const asc = th.getAttribute("aria-sort") !== "ascending";
      const num = th.dataset.type === "num";
      for (const h of heads) if (h.hasAttribute("aria-sort")) h.setAttribute("aria-sort", "none");
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      const rows = Array.from(body.rows).map((row, i) => [row, key(row, col), i]);
      rows.sort((a, b) => {
        const x = a[1], y = b[1];
        if (x === "" || y === "") return x === y ? a[2] - b[2] : (x === "" ? 1 : -1);
        let c = num ? Number(x) - Number(y) : x.localeCompare(y, undefined, {numeric: true});
        if (!asc) c = -c;
        return c || a[2] - b[2];
      });
      for (const [row] of rows) body.appendChild(row);
    });
  });
})();
