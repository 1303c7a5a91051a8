// The operator's console: a client of the service's public JSON API and nothing else (docs/console.md).
// Every value a client wrote (ids, metadata) reaches the page as text nodes, never as markup.
"use strict";
(() => {
  const main = document.getElementById("main");
  const notice = document.getElementById("notice");
  const keyState = document.getElementById("key-state");
  const navTransfer = document.getElementById("nav-transfer");
  const KEY_ITEM = "account-service-console-key";
  let key = sessionStorage.getItem(KEY_ITEM) || "";
  let scope = "unknown"; // "write", "read", "refused" or "needed"
  let view = new AbortController(); // aborted when the page changes: its requests and followers stop

  // ---- JSON whose integers stay exact: every number becomes its digits, as a string, before JSON.parse ----
  function parseExact(text) {
    const parts = [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      const c = text.charCodeAt(i);
      if (c === 34) { // a string: skip it whole, escapes included
        i++;
        while (i < text.length && text.charCodeAt(i) !== 34) i += text.charCodeAt(i) === 92 ? 2 : 1;
        i++;
      } else if (c === 45 || (c >= 48 && c <= 57)) { // a number
        let j = i + 1;
        while (j < text.length && "0123456789.eE+-".includes(text[j])) j++;
        parts.push(text.slice(start, i), '"', text.slice(i, j), '"');
        start = i = j;
      } else i++;
    }
    parts.push(text.slice(start));
    return JSON.parse(parts.join(""));
  }

  // ---- the API ----
  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(path, { method = "GET", body, signal = view.signal } = {}) {
    const headers = {};
    if (key) headers.Authorization = "Bearer " + key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
    const text = await response.text();
    const type = response.headers.get("content-type") || "";
    const data = text && type.includes("json") ? parseExact(text) : null;
    if (response.status === 401) refused(data);
    return { status: response.status, data };
  }

  /// The answer's body when it is `expected`, else an ApiError with the problem's detail.
  async function fetchJSON(path, options, expected = 200) {
    const { status, data } = await api(path, options);
    if (status !== expected) throw new ApiError(status, (data && data.detail) || "HTTP " + status);
    return data;
  }

  function refused(problem) {
    scope = key ? "refused" : "needed";
    showKeyState();
    say(key ? "The service refused this key (401): " + ((problem && problem.detail) || "unknown key") +
      ". Give another on the Key page." : "The service needs an access key: give one on the Key page.");
  }

  /// What the key may do, without side effects: an empty batch is 400 for a key that may write (or without keys),
  /// 403 for a read key, 401 for a refused one.
  async function probeKey() {
    try {
      const { status } = await api("/transactions", { method: "POST", body: "{}", signal: null });
      scope = status === 403 ? "read" : status === 401 ? (key ? "refused" : "needed") : "write";
      if (scope === "read" || scope === "write") hideNotice();
    } catch (error) {
      scope = "unknown";
    }
    showKeyState();
  }

  function showKeyState() {
    const words = { write: "may write", read: "read only", refused: "refused", needed: "needed", unknown: "?" };
    keyState.textContent = "Key: " + (key ? words[scope] : scope === "needed" ? "needed" : "none needed");
    navTransfer.hidden = scope !== "write";
  }

  // ---- the page ----
  function h(tag, attributes, ...children) {
    const svg = ["svg", "polyline", "circle", "line", "text", "title", "g"].includes(tag);
    const element = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
    return element;
  }

  function show(...children) {
    main.replaceChildren(...children);
  }

  function say(text) {
    notice.textContent = text;
    notice.hidden = false;
  }

  function hideNotice() { notice.hidden = true; }

  function failed(error) {
    if (error.name === "AbortError") return;
    say(error instanceof ApiError ? `${error.message} (HTTP ${error.status})` : "The service did not answer: " + error.message);
  }

  const accountLink = (id) => h("a", { href: "#/account/" + encodeURIComponent(id), class: "id" }, id);
  const transactionLink = (id) => h("a", { href: "#/transaction/" + encodeURIComponent(id), class: "id" }, id);
  const money = (amount, currency) => (amount === null || amount === undefined ? "none" : amount + (currency ? " " + currency : ""));
  const sleep = (ms, signal) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal && signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

  function newID() { // a random UUID (version 4), also where crypto.randomUUID is not offered (plain http)
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  function statusCell(record) {
    const word = record.reason === "expired" ? "voided (expired)" : record.status;
    return h("td", { class: record.status }, word);
  }

  function recordRow(record, { account = true, fresh = false } = {}) {
    return h("tr", { class: fresh ? "fresh" : null, "data-sequence": record.sequence, "data-id": record.transaction_id },
      h("td", { class: "number" }, record.sequence),
      h("td", { class: "hide-narrow" }, record.created_at),
      account ? h("td", {}, accountLink(record.account_id)) : null,
      h("td", { class: "number" }, record.amount),
      h("td", { class: "number" }, record.balance_after),
      statusCell(record),
      h("td", {}, transactionLink(record.transaction_id)));
  }

  function recordTable(records, { account = true, caption } = {}) {
    const body = h("tbody", {}, records.map((record) => recordRow(record, { account })));
    return h("div", { class: "table-wrap" }, h("table", {},
      caption ? h("caption", { class: "status" }, caption) : null,
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", class: "number" }, "Sequence"), h("th", { scope: "col", class: "hide-narrow" }, "Committed"),
        account ? h("th", { scope: "col" }, "Account") : null, h("th", { scope: "col", class: "number" }, "Amount"),
        h("th", { scope: "col", class: "number" }, "Balance after"), h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Transaction"))),
      body));
  }

  function metadataList(metadata) {
    const entries = Object.entries(metadata || {});
    if (!entries.length) return h("p", { class: "status" }, "No metadata.");
    return h("div", { class: "table-wrap" }, h("table", { class: "metadata" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"))),
      h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("td", {}, h("pre", { class: "meta" }, k)), h("td", {}, h("pre", { class: "meta" }, v)))))));
  }

  // ---- the change feed ----

  /// The largest sequence recorded (0 when none): a search over `after`, since the feed answers oldest first.
  async function headSequence(signal) {
    const after = async (s) => (await fetchJSON(`/transactions?after=${s}&limit=1`, { signal })).transactions.length > 0;
    if (!(await after(0n))) return 0n;
    let low = 0n;
    let high = 1n;
    while (await after(high)) { low = high; high *= 2n; }
    while (high - low > 1n) {
      const middle = (low + high) / 2n;
      if (await after(middle)) low = middle; else high = middle;
    }
    return high;
  }

  /// Follows the feed from `after`: every transaction once, in order (the feed is gap-safe and `after` only
  /// grows), each handed to `onRecord`; `control.paused` stops it between requests, `control.abort` at once.
  async function follow(after, onRecord, control) {
    while (!control.signal.aborted) {
      try {
        const page = await fetchJSON(`/transactions?after=${after}&limit=100&wait=20`, { signal: control.signal });
        for (const record of page.transactions) {
          const sequence = BigInt(record.sequence);
          if (sequence > after) { after = sequence; onRecord(record); }
        }
        if (BigInt(page.next_after) > after) after = BigInt(page.next_after);
        control.after = after;
      } catch (error) {
        if (control.signal.aborted) return after;
        failed(error);
        await sleep(2000, control.signal);
      }
    }
    return after;
  }

  // ---- overview ----
  async function overview() {
    const rows = h("tbody", {});
    const live = h("p", { class: "status", "aria-live": "polite" }, "Finding the newest transactions…");
    const pause = h("button", { type: "button", class: "secondary", id: "feed-toggle" }, "Pause");
    const ready = h("dd", { id: "readiness" }, "…");
    const volume = h("dd", { id: "max-volume" }, "…");
    const busiest = h("p", { class: "status" });
    show(h("h1", {}, "Overview"),
      h("dl", { class: "grid" }, h("div", { class: "card" }, h("dt", {}, "Readiness"), ready),
        h("div", { class: "card" }, h("dt", {}, "Max transaction volume"), volume)),
      busiest,
      h("h2", {}, "Live feed"),
      h("div", { class: "toolbar" }, pause, live),
      h("div", { class: "table-wrap" }, h("table", { id: "feed" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "number" }, "Sequence"), h("th", { scope: "col", class: "hide-narrow" }, "Committed"),
          h("th", { scope: "col" }, "Account"), h("th", { scope: "col", class: "number" }, "Amount"),
          h("th", { scope: "col", class: "number" }, "Balance after"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Transaction"))),
        rows)));
    const signal = view.signal;
    let volumeAsked = 0;
    const refreshVolume = async () => {
      volumeAsked = Date.now();
      try {
        const answer = await fetchJSON("/max_transaction_volume", { signal });
        volume.textContent = answer.maxVolume;
        busiest.replaceChildren(answer.accounts.length ? "Busiest: " : "", ...answer.accounts.slice(0, 5).flatMap((id, i) => [i ? ", " : "", accountLink(id)]),
          answer.accounts.length > 5 ? ` and ${answer.accounts.length - 5} more` : "");
      } catch (error) { failed(error); }
    };
    const refreshReadiness = async () => {
      while (!signal.aborted) {
        try {
          const { status, data } = await api("/ready", { signal });
          ready.textContent = status === 200 ? "Ready" : (data && data.detail) || "HTTP " + status;
          ready.className = status === 200 ? "good" : "bad";
        } catch (error) { if (!signal.aborted) { ready.textContent = "No answer"; ready.className = "bad"; } }
        await sleep(5000, signal);
      }
    };
    refreshReadiness();
    refreshVolume();
    let shown = 0;
    const add = (record, fresh) => {
      rows.prepend(recordRow(record, { fresh }));
      while (rows.children.length > 200) rows.lastChild.remove();
      if (fresh) {
        // When each new transaction was shown, for the live feed's delay (docs/console.md); the last 1,000 kept.
        performance.mark("feed " + record.transaction_id);
        if (++shown % 1000 === 0) performance.clearMarks();
        live.textContent = `Following: ${shown} new since the page opened.`;
        if (Date.now() - volumeAsked > 1000) refreshVolume();
      }
    };
    try {
      const head = await headSequence(signal);
      const first = head > 20n ? head - 20n : 0n;
      const recent = await fetchJSON(`/transactions?after=${first}&limit=20`, { signal });
      for (const record of recent.transactions) add(record, false);
      live.textContent = "Following: new transactions appear here as they commit.";
      let control = null;
      let after = head;
      const start = () => {
        control = new AbortController();
        signal.addEventListener("abort", () => control.abort(), { once: true });
        follow(after, (record) => add(record, true), control).then((last) => { after = last; });
      };
      pause.addEventListener("click", () => {
        if (control && !control.signal.aborted) {
          after = control.after !== undefined ? control.after : after;
          control.abort();
          pause.textContent = "Resume";
          live.textContent = "Paused: nothing is missed; resuming picks up where it stopped.";
        } else {
          pause.textContent = "Pause";
          live.textContent = "Following.";
          start();
        }
      });
      start();
    } catch (error) { failed(error); }
  }

  // ---- search ----
  async function searchPage(query) {
    const q = (query.get("q") || "").trim();
    show(h("h1", {}, "Accounts"), h("p", { class: "status" }, "Find an account by its id, or by one metadata member written key=value."));
    if (!q) return listAccounts(null);
    if (UUID.test(q)) { location.hash = "#/account/" + q.toLowerCase(); return; }
    const equals = q.indexOf("=");
    if (equals < 1) { say("Give an account id, or key=value to find accounts by a metadata member."); return; }
    return listAccounts([q.slice(0, equals), q.slice(equals + 1)]);
  }

  async function listAccounts(member, from) {
    const filter = member ? `metadata.${encodeURIComponent(member[0])}=${encodeURIComponent(member[1])}&` : "";
    try {
      const page = await fetchJSON(`/accounts?${filter}limit=50${from ? "&after=" + from : ""}`);
      const body = h("tbody", {}, page.accounts.map((account) => h("tr", {},
        h("td", {}, accountLink(account.account_id)), h("td", { class: "number" }, money(account.balance, account.currency)),
        h("td", { class: "number" }, money(account.available_balance, account.currency)),
        h("td", { class: "hide-narrow" }, Object.entries(account.metadata).map(([k, v]) => k + "=" + v).join(", ")))));
      const next = page.next ? new URLSearchParams(page.next.split("?")[1]).get("after") : null;
      main.append(h("h2", {}, member ? `Accounts with ${member[0]}=${member[1]}` : "All accounts, in id order"),
        page.accounts.length ? h("div", { class: "table-wrap" }, h("table", { id: "accounts" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Account"), h("th", { scope: "col", class: "number" }, "Balance"),
            h("th", { scope: "col", class: "number" }, "Available"), h("th", { scope: "col", class: "hide-narrow" }, "Metadata"))), body))
          : h("p", {}, "No account matches."),
        next ? h("button", { type: "button", class: "secondary", onclick: (event) => { event.target.remove(); listAccounts(member, next); } }, "More") : null);
    } catch (error) { failed(error); }
  }

  // ---- an account ----
  async function accountPage(id) {
    id = id.toLowerCase();
    const signal = view.signal;
    const heading = h("h1", {}, "Account ", h("span", { class: "id" }, id));
    const summary = h("div", {});
    const chart = h("div", {});
    const holds = h("div", {});
    const statement = h("div", {});
    const write = scope === "write";
    show(heading, summary, h("h2", {}, "Balance over time"), chart, h("h2", {}, "Open holds"), holds,
      h("h2", {}, "Statement"), statement);
    let account;
    const pages = [null]; // the `before` of each page shown so far: the first is the newest
    const render = async () => {
      account = await fetchJSON("/accounts/" + encodeURIComponent(id), { signal }).catch((error) => {
        if (error.status === 404) { summary.replaceChildren(h("p", {}, "No account has this id.")); return null; }
        throw error;
      });
      if (!account) return false;
      const c = account.currency;
      summary.replaceChildren(h("dl", { class: "grid", id: "account-summary" },
        card("Balance", money(account.balance, c), "balance"), card("Available balance", money(account.available_balance, c), "available"),
        card("Pending debits", money(account.pending_debits, c)), card("Pending credits", money(account.pending_credits, c)),
        card("Currency", c || "none"), card("Minimum balance", money(account.minimum_balance, c)),
        card("Maximum balance", money(account.maximum_balance, c)), card("Transactions", account.transaction_count),
        card("Opened", account.created_at)),
      h("h2", {}, "Metadata"), metadataList(account.metadata));
      performance.mark("account shown"); // how long the account took to show: docs/console.md
      const recent = await fetchJSON(`/accounts/${encodeURIComponent(id)}/transactions?limit=1000`, { signal });
      chart.replaceChildren(balanceChart(recent.transactions, c));
      await showHolds(recent.transactions);
      await showStatement();
      return true;
    };
    const card = (label, value, name) => h("div", { class: "card" }, h("dt", {}, label), h("dd", { "data-field": name || null }, value));
    const showHolds = async (records) => {
      const candidates = records.filter((record) => record.status === "pending").slice(0, 50);
      const states = await Promise.all(candidates.map((record) => fetchJSON("/transaction/" + record.transaction_id, { signal })));
      const open = states.filter((hold) => hold.hold_state === "pending");
      holds.replaceChildren(open.length ? h("ul", { id: "holds" }, open.map((hold) => h("li", {},
        transactionLink(hold.transaction_id), " ", money(hold.amount, account.currency),
        hold.expires_at ? ", expires " + hold.expires_at : ", never expires", " ",
        write ? resolveButtons(hold, () => render().catch(failed)) : null)))
        : h("p", { class: "status" }, "None among the last 1,000 transactions."));
    };
    const showStatement = async () => {
      const before = pages[pages.length - 1];
      const page = await fetchJSON(`/accounts/${encodeURIComponent(id)}/transactions?limit=50${before ? "&before=" + before : ""}`, { signal });
      const older = page.next ? new URLSearchParams(page.next.split("?")[1]).get("before") : null;
      statement.replaceChildren(
        h("div", { class: "toolbar" },
          h("button", { type: "button", class: "secondary", id: "newer", disabled: pages.length === 1, onclick: () => { pages.pop(); showStatement().catch(failed); } }, "Newer"),
          h("button", { type: "button", class: "secondary", id: "older", disabled: !older, onclick: () => { pages.push(older); showStatement().catch(failed); } }, "Older"),
          h("span", { class: "status" }, pages.length === 1 ? "Newest first." : `Page ${pages.length}.`)),
        page.transactions.length ? recordTable(page.transactions, { account: false }) : h("p", {}, "No transactions yet."));
    };
    try {
      // The feed's head first, then the page: a commit that lands in between refreshes it once more.
      const head = await headSequence(signal);
      if (!(await render())) return;
      // Live: a transaction of this account in the feed refreshes the page.
      const control = new AbortController();
      signal.addEventListener("abort", () => control.abort(), { once: true });
      // At most one refresh a second (and 150 ms after the first transaction of a burst): a busy account's page
      // does not read its 1,000 latest transactions for every commit.
      let timer = null;
      let refreshed = 0;
      follow(head, (record) => {
        if (record.account_id !== id || timer) return;
        timer = setTimeout(() => {
          timer = null;
          refreshed = Date.now();
          render().catch(failed); // the statement page shown stays the one shown: its `before` is fixed
        }, Math.max(150, refreshed + 1000 - Date.now()));
      }, control);
    } catch (error) { failed(error); }
  }

  /// An SVG of the balance after each of `records` (newest first, as a statement gives them), oldest on the left;
  /// every point carries its balance_after as its title.
  function balanceChart(records, currency) {
    if (!records.length) return h("p", { class: "status" }, "No transactions yet.");
    const points = records.slice().reverse();
    const values = points.map((record) => Number(record.balance_after)); // for drawing only: labels stay exact
    const low = Math.min(...values, 0);
    const high = Math.max(...values, 0);
    const width = 640, height = 180, pad = 28;
    const x = (i) => pad + (points.length === 1 ? (width - 2 * pad) / 2 : (i * (width - 2 * pad)) / (points.length - 1));
    const y = (v) => height - pad - (high === low ? 0 : ((v - low) * (height - 2 * pad)) / (high - low));
    return h("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `Balance after each of the last ${points.length} transactions, from ${points[0].balance_after} to ${points[points.length - 1].balance_after}` },
      h("line", { x1: pad, x2: width - pad, y1: y(0), y2: y(0) }),
      h("text", { x: 2, y: y(high) + 4 }, String(high)), h("text", { x: 2, y: y(low) + 4 }, String(low)),
      h("polyline", { points: values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }),
      points.map((record, i) => h("circle", { cx: x(i).toFixed(1), cy: y(values[i]).toFixed(1), r: points.length > 200 ? 1.5 : 3, "data-balance-after": record.balance_after },
        h("title", {}, `#${record.sequence} ${record.created_at}: ${money(record.balance_after, currency)}`))));
  }

  /// Post and void buttons for an open hold. Each resolution's id is made once, when the buttons are, and kept
  /// across retries: a double click or a resend after a lost answer resolves the hold once.
  function resolveButtons(hold, done) {
    const ids = { post: newID(), void: newID() };
    const status = h("span", { class: "status", role: "status" });
    const buttons = ["post", "void"].map((action) => h("button", { type: "button", class: action === "void" ? "secondary" : null, "data-action": action,
      onclick: async () => {
        buttons.forEach((button) => { button.disabled = true; });
        status.textContent = "Sending…";
        try {
          const body = `{"transactions":[{"transaction_id":"${ids[action]}","pending_id":"${hold.transaction_id}","action":"${action}"}]}`;
          await fetchJSON("/transactions", { method: "POST", body, signal: null });
          status.textContent = action === "post" ? "Posted." : "Voided.";
          done();
        } catch (error) {
          status.textContent = "";
          failed(error);
          buttons.forEach((button) => { button.disabled = false; });
        }
      } }, action === "post" ? "Post" : "Void"));
    return h("span", { class: "toolbar" }, buttons, status);
  }

  // ---- a transaction ----
  async function transactionPage(id) {
    id = id.toLowerCase();
    const signal = view.signal;
    show(h("h1", {}, "Transaction ", h("span", { class: "id" }, id)));
    try {
      const { status, data: record } = await api("/transaction/" + encodeURIComponent(id), { signal });
      if (status === 404) { main.append(h("p", {}, "No transaction has this id.")); return; }
      if (status !== 200) throw new ApiError(status, (record && record.detail) || "HTTP " + status);
      const rows = [["Account", accountLink(record.account_id)], ["Amount", record.amount], ["Sequence", record.sequence],
        ["Committed", record.created_at], ["Balance after", record.balance_after], ["Status", record.reason === "expired" ? "voided (expired)" : record.status]];
      if (record.hold_state) rows.push(["Hold", record.hold_state]);
      if (record.expires_at !== undefined) rows.push(["Expires", record.expires_at || "never"]);
      if (record.pending_id) rows.push(["Resolves the hold", transactionLink(record.pending_id)]);
      main.append(h("div", { class: "table-wrap" }, h("table", { id: "record" }, h("tbody", {}, rows.map(([label, value]) => h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value)))))),
        h("h2", {}, "Metadata"), metadataList(record.metadata));
      if (record.hold_state === "pending" && scope === "write") main.append(h("p", {}, resolveButtons(record, () => route())));
      if (record.hold_state && record.hold_state !== "pending") {
        const statement = await fetchJSON(`/accounts/${encodeURIComponent(record.account_id)}/transactions?limit=1000`, { signal });
        const resolution = statement.transactions.find((other) => other.pending_id === id);
        main.append(h("h2", {}, "Resolution"), resolution ? recordTable([resolution]) : h("p", { class: "status" }, "Its record is older than the account's last 1,000."));
      }
      // Batch-mates: committed together, so the same commit time and consecutive sequences.
      const sequence = BigInt(record.sequence);
      const around = await fetchJSON(`/transactions?after=${sequence > 101n ? sequence - 101n : 0n}&limit=201`, { signal });
      const list = around.transactions;
      let at = list.findIndex((other) => other.transaction_id === record.transaction_id);
      let first = at, last = at;
      const together = (a, b) => a.created_at === b.created_at && BigInt(b.sequence) - BigInt(a.sequence) === 1n;
      while (first > 0 && together(list[first - 1], list[first])) first--;
      while (last >= 0 && last < list.length - 1 && together(list[last], list[last + 1])) last++;
      const mates = at < 0 ? [] : list.slice(first, last + 1).filter((other) => other.transaction_id !== record.transaction_id);
      main.append(h("h2", {}, "Committed with it"), mates.length ? recordTable(mates) : h("p", { class: "status" }, "Nothing else at its commit time and next to it in sequence."));
    } catch (error) { failed(error); }
  }

  // ---- a transfer ----
  function transferPage() {
    if (scope !== "write") {
      show(h("h1", {}, "Transfer"), h("p", {}, scope === "read" ? "This key may only read: transfers need a key with scope write." : "Transfers need a key that may write."));
      return;
    }
    // The two ids are made when the form opens and kept until a transfer is done: sending twice moves money once.
    const ids = { debit: newID(), credit: newID() };
    const field = (label, name, hint, attributes = {}) => h("label", {}, label, hint ? h("span", { class: "hint" }, hint) : null,
      h(attributes.rows ? "textarea" : "input", { name, id: "transfer-" + name, autocomplete: "off", spellcheck: "false", ...attributes }));
    const result = h("div", { role: "status", id: "transfer-result" });
    const send = h("button", { type: "submit", id: "transfer-send" }, "Send");
    const form = h("form", { class: "stack", id: "transfer-form", novalidate: true },
      field("From account", "from", "the account debited", { required: true }),
      field("To account", "to", "the account credited", { required: true }),
      field("Amount", "amount", "a whole number of minor units, e.g. 1250 for 12.50", { required: true, inputmode: "numeric" }),
      field("Currency", "currency", "optional: checked against both accounts'", {}),
      field("Metadata", "metadata", "optional: one key=value a line", { rows: 3 }),
      h("p", { class: "hint" }, "This transfer's transaction ids: ", h("span", { class: "id" }, ids.debit), " and ", h("span", { class: "id" }, ids.credit),
        ". Sending again after an error or a lost answer is safe: it moves money once."),
      h("div", { class: "toolbar" }, send), result);
    let sending = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) return;
      const value = (name) => form.elements[name].value.trim();
      const from = value("from").toLowerCase(), to = value("to").toLowerCase(), amount = value("amount"), currency = value("currency");
      if (!UUID.test(from) || !UUID.test(to)) return say("Both accounts must be account ids (UUIDs).");
      if (from === to) return say("From and to must be two accounts.");
      if (!/^[1-9][0-9]{0,18}$/.test(amount)) return say("The amount must be a positive whole number of minor units.");
      const metadata = {};
      for (const line of value("metadata").split("\n").map((l) => l.trim()).filter(Boolean)) {
        const at = line.indexOf("=");
        if (at < 1) return say("Metadata lines are key=value.");
        metadata[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      hideNotice();
      sending = true;
      send.disabled = true;
      result.textContent = "Sending…";
      // Built as text so that the amount is sent as its digits, never through a floating-point number.
      const common = (currency ? `,"currency":${JSON.stringify(currency)}` : "") +
        (Object.keys(metadata).length ? `,"metadata":${JSON.stringify(metadata)}` : "");
      const body = `{"balanced":true,"transactions":[` +
        `{"transaction_id":"${ids.debit}","account_id":"${from}","amount":-${amount}${common}},` +
        `{"transaction_id":"${ids.credit}","account_id":"${to}","amount":${amount}${common}}]}`;
      try {
        const answer = await fetchJSON("/transactions", { method: "POST", body, signal: null });
        const replayed = answer.transactions.every((record) => record.replayed === true);
        form.replaceChildren(h("p", { class: "good" }, replayed ? "Already done: this transfer had been recorded." : "Transfer recorded."),
          recordTable(answer.transactions), h("button", { type: "button", onclick: () => transferPage() }, "New transfer"));
      } catch (error) {
        result.textContent = "";
        failed(error);
        if (!(error instanceof ApiError)) say("No answer from the service. Send again: with the same ids it moves money at most once.");
      } finally {
        sending = false;
        send.disabled = false;
      }
    });
    show(h("h1", {}, "Transfer"), form);
  }

  // ---- the key ----
  function keyPage() {
    const input = h("input", { type: "password", id: "key-input", autocomplete: "off", value: "" });
    const form = h("form", { class: "stack", id: "key-form" },
      h("label", {}, "Access key", h("span", { class: "hint" }, "kept in this tab only (session storage), sent as Authorization: Bearer"), input),
      h("div", { class: "toolbar" }, h("button", { type: "submit" }, "Use this key"),
        h("button", { type: "button", class: "secondary", onclick: () => { setKey(""); } }, "Forget the key")));
    form.addEventListener("submit", (event) => { event.preventDefault(); setKey(input.value.trim()); });
    show(h("h1", {}, "Access key"), h("p", {}, "A read key shows everything; a write key also makes transfers and resolves holds."), form,
      h("p", { class: "status", id: "key-scope" }, "Now: " + keyState.textContent));
  }

  async function setKey(value) {
    key = value;
    if (key) sessionStorage.setItem(KEY_ITEM, key); else sessionStorage.removeItem(KEY_ITEM);
    await probeKey();
    if (scope === "refused") refused(null);
    if (scope === "read" || scope === "write") location.hash = "#/";
    else keyPage();
  }

  // ---- routing ----
  async function route() {
    view.abort();
    view = new AbortController();
    const [path, query] = (location.hash || "#/").slice(1).split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
    if (parts[0] === "account" && parts[1]) return accountPage(parts[1]);
    if (parts[0] === "transaction" && parts[1]) return transactionPage(parts[1]);
    if (parts[0] === "search") return searchPage(new URLSearchParams(query || ""));
    if (parts[0] === "transfer") return transferPage();
    if (parts[0] === "key") return keyPage();
    return overview();
  }

  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const q = document.getElementById("search-input").value.trim();
    location.hash = "#/search?q=" + encodeURIComponent(q);
  });
  window.addEventListener("hashchange", () => { hideNotice(); route(); });
  probeKey().then(() => (scope === "needed" || scope === "refused" ? keyPage() : route()));
})();
