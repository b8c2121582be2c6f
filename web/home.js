// The home page: the site header and the log's latest signed checkpoint.
import { problemOf } from "./lib/api.js";
import { $, startPage } from "./lib/page.js";

async function showCheckpoint() {
  const response = await fetch("/v1/audit/checkpoint");
  if (!response.ok) {
    const problem = await problemOf(response);
    throw new Error(problem.detail || problem.title);
  }
  const checkpoint = await response.json();
  $("#tree-size").textContent = checkpoint.tree_size.toLocaleString();
  $("#root-hash code").textContent = checkpoint.root_hash;
  $("#signed-at").textContent = new Date(checkpoint.timestamp).toLocaleString();
  $("#note").textContent = checkpoint.note;
}

await startPage();
try {
  await showCheckpoint();
} catch (error) {
  $("#tree-size").textContent = `unavailable: ${error.message}`;
}
document.body.dataset.ready = "home";
