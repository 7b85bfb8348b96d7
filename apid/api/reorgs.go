package api

import "net/http"

// reorgsPage is /docs/reorgs: what a reorganisation does to deposits, for
// the merchant who credits them.
const reorgsPage = `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><title>Reorgs, for merchants · Inflow API</title><style>
body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.5}
code{background:#f4f4f4;padding:0 .2rem}pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.85rem}
td,th{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}</style></head><body>
<p><a href="/docs">← API reference</a></p>
<h1>Reorgs, for merchants</h1>
<p>A block can leave its chain: a reorganisation replaces the newest blocks with another branch. A deposit
in a replaced block was never final. Inflow follows every chain block by block and tells you when that
happens, so that a credit you gave can be taken back.</p>

<h2>The statuses</h2>
<table>
<tr><th><code>pending</code></th><td>The transfer is in a block, with fewer confirmations than the chain's credit depth
(<code>GET /api/v1/chains</code> lists each chain's <code>policy.creditDepth</code>).</td></tr>
<tr><th><code>confirmed</code></th><td>It reached the credit depth. A reorg deeper than that is rare, but possible.</td></tr>
<tr><th><code>completed</code></th><td>Its block is final: the chain's own finality (a finalized tag, Tron's solidified block,
Solana's finalized commitment) or, on Bitcoin, a depth. A completed deposit is never taken back.</td></tr>
<tr><th><code>orphaned</code></th><td>Its block left the chain before it was final. The deposit has <code>orphanedAt</code> set and
0 confirmations, and it is out of every balance.</td></tr>
</table>
<p>Each change is a webhook event: <code>deposit.pending</code>, <code>deposit.confirmed</code>,
<code>deposit.completed</code>, <code>deposit.orphaned</code>. Balances follow them: <code>pending</code> is the sum of
pending and confirmed deposits, <code>available</code> the sum of completed ones.</p>

<h2>orphaned, and replaces</h2>
<p>When a reorg takes a block out, every deposit of that block becomes <code>orphaned</code>, whatever its
status was (pending or confirmed). Often the same transaction is mined again in the new branch. Inflow
then makes a <em>new</em> deposit, with a new <code>depositId</code>. Its <code>replaces</code> field names the orphaned
deposit, and it starts again at <code>pending</code>:</p>
<pre>deposit.pending    dep_…9ec6  25.5 USDT  block 7123456
deposit.confirmed  dep_…9ec6               (3 confirmations)
deposit.orphaned   dep_…9ec6               (block 7123456 left the chain)
deposit.pending    dep_…41aa  25.5 USDT  block 7123457, replaces dep_…9ec6
deposit.confirmed  dep_…41aa
deposit.completed  dep_…41aa</pre>
<p>If the transaction is not mined again (it was double-spent, or dropped), no deposit replaces the orphaned one:
the money never arrived.</p>

<h2>How to credit, and how to reverse</h2>
<ul>
<li><b>Key your credits by <code>depositId</code>.</b> One deposit is credited at most once, and a replacing deposit has
an id of its own.</li>
<li><b>Events come at least once.</b> Deduplicate on the <code>webhook-id</code> header (the event id): a retried or
replayed event carries the same id.</li>
<li><b>To credit on <code>deposit.completed</code></b> is the safe choice: nothing takes it back.</li>
<li><b>To credit on <code>deposit.confirmed</code></b> (faster), be ready to reverse it. On
<code>deposit.orphaned</code> for a deposit you credited, debit the same amount from the same account, keyed by the
same <code>depositId</code>. If a deposit with <code>replaces</code> equal to that id comes later, credit it when it is
confirmed, as any other deposit. Until its block is final, a customer should not be able to withdraw money that
came from a confirmed deposit.</li>
<li><b>An orphaned event can come after confirmed</b>, never after completed. A <code>deposit.orphaned</code> for a
deposit you only saw as pending needs no reversal.</li>
</ul>
<pre>on deposit.confirmed(d):   credit(d.depositReference, d.amount, d.currency, key = d.depositId)
on deposit.orphaned(d):    if credited(d.depositId): debit(d.depositReference, d.amount, d.currency, key = d.depositId + ":reversal")
on deposit.completed(d):   mark_final(d.depositId)   # withdrawable from here</pre>

<h2>When a reorg is too deep</h2>
<p>Each chain has a maximum reorg depth (<code>policy.maxReorgDepth</code>). A reorg deeper than that, or one that would
take out a block the chain had called final, is not applied: Inflow halts that chain, reverses nothing, keeps its
blocks, and alerts the operator (<code>GET /api/v1/chains</code> shows <code>indexing.halted</code> and why). Completed
deposits therefore stay completed.</p>

<h2>Deposits after an unbind</h2>
<p>An unbound address rests for a cooldown (30 minutes by default) before it can be bound to another reference. A
deposit that reaches it during the cooldown is still the old reference's, flagged <code>afterUnbind: true</code>. After the
cooldown a deposit to it is unattributed (<code>depositReference: null</code>): by then the address could be someone
else's.</p>
</body></html>`

func (s *Server) reorgs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(reorgsPage))
}
