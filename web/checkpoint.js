"use strict";
(async () => {
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  try {
    const response = await fetch("/v1/audit/checkpoint");
    if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
    const checkpoint = await response.json();
    show("tree-size", checkpoint.tree_size.toLocaleString());
    document.querySelector("#root-hash code").textContent = checkpoint.root_hash;
    show("signed-at", new Date(checkpoint.timestamp).toLocaleString());
    show("note", checkpoint.note);
  } catch (error) {
    show("tree-size", `unavailable: ${error.message}`);
  }
})();
