// The playground page: a Slack-like #war-room. It renders /state (the stand-in's channel as the
// acting person sees it) and sends what the person does to /act/*, where the stand-in turns it into
// signed requests shaped like Slack's. Server-sent events say when to read /state again.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const esc = Mrkdwn.escapeHtml;
  const params = new URLSearchParams(location.search);
  const page = {
    me: params.get("as") || localStorage.getItem("launchbot.playground.user") || null,
    state: null,
    // Ephemeral messages live in the page, as in Slack: those sent before it loaded are not shown
    // (the stand-in's clock when the page first read /state).
    since: null,
    thread: null, // the ts of the open thread
    modalKey: null, // id+hash of the modal on screen, so typing survives a re-render
    highlight: null,
    seenTs: null, // the newest channel message the person has scrolled down to
  };

  // --- talking to the playground server ----------------------------------------------------------
  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: page.me, ...body }),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = { ok: false, error: await response.text().catch(() => String(response.status)) };
    }
    if (!response.ok && data && data.ok === undefined) data.ok = false;
    return data || { ok: false };
  }

  let refreshing = null;
  let again = false;
  async function refresh() {
    // One read at a time; a change during a read asks for one more.
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        const asked = page.me;
        const q = asked ? `?user=${encodeURIComponent(asked)}` : "";
        const response = await fetch(`/state${q}`, { cache: "no-store" });
        if (!response.ok) break;
        const state = await response.json();
        if (page.me !== asked) {
          // The person was switched while this read was in flight: it shows someone else's view.
          // Never let it switch back; read again for the person chosen now.
          again = true;
          continue;
        }
        if (page.since === null) page.since = Number(state.now);
        state.ephemerals = state.ephemerals.filter((e) => Number(e.ts) > page.since);
        page.state = state;
        page.me = state.me;
        render();
      } while (again);
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  function connect() {
    const source = new EventSource("/events");
    source.onopen = () => setConnection(true);
    source.onerror = () => setConnection(false);
    source.onmessage = () => refresh();
  }

  function setConnection(ok) {
    const el = $("#connection");
    const ready = page.state && page.state.ready;
    el.textContent = ok ? (ready ? "● live" : "● starting the bot…") : "○ reconnecting…";
    el.className = `conn ${ok ? "ok" : "down"}`;
  }

  // --- people -------------------------------------------------------------------------------------
  function user(id) {
    return (page.state && page.state.users.find((u) => u.id === id)) || null;
  }
  const mrkdwnContext = {
    userName: (id) => {
      const u = user(id);
      return u ? u.display_name || u.name : null;
    },
    channelName: (id) => (page.state && page.state.channel.id === id ? page.state.channel.name : null),
  };
  const md = (text) => Mrkdwn.render(text, mrkdwnContext);

  function renderSwitcher() {
    const select = $("#user-switcher");
    const people = page.state.people.map(user).filter(Boolean);
    const wanted = people.map((u) => `${u.id}:${u.label || u.real_name}`).join(",");
    if (select.dataset.people !== wanted) {
      select.innerHTML = people
        .map((u) => `<option value="${esc(u.id)}">${esc(u.label || u.real_name)}</option>`)
        .join("");
      select.dataset.people = wanted;
    }
    select.value = page.me;
  }

  // --- Block Kit ----------------------------------------------------------------------------------
  function text(obj) {
    if (!obj) return "";
    return obj.type === "mrkdwn" ? md(obj.text) : Mrkdwn.plain(obj);
  }

  function attrs(map) {
    return Object.entries(map)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => ` ${k}="${esc(v)}"`)
      .join("");
  }

  function button(el, block, where) {
    const style = el.style ? ` bk-${el.style}` : "";
    if (el.url && Mrkdwn.safeUrl(el.url)) {
      return `<a class="bk-button${style}" href="${esc(el.url)}" target="_blank" rel="noopener">${Mrkdwn.plain(el.text)}</a>`;
    }
    return `<button type="button" class="bk-button${style}"${attrs({
      "data-kind": "button",
      "data-action-id": el.action_id,
      "data-value": el.value,
      "data-block-id": block.block_id,
      "data-ts": where.ts,
      "data-ephemeral": where.ephemeral ? "1" : null,
      "data-confirm": el.confirm ? JSON.stringify(el.confirm) : null,
    })}>${Mrkdwn.plain(el.text)}</button>`;
  }

  function checkboxes(el, block, where) {
    const selected = new Set((el.initial_options || []).map((o) => o.value));
    const options = (el.options || []).map((o) => {
      const on = selected.has(o.value);
      const description = o.description ? `<span class="cb-desc">${text(o.description)}</span>` : "";
      return `<label class="cb-option${on ? " checked" : ""}"><input type="checkbox"${on ? " checked" : ""}${attrs({
        "data-kind": "checkbox",
        "data-action-id": el.action_id,
        "data-value": o.value,
        "data-block-id": block.block_id,
        "data-ts": where.ts,
        "data-ephemeral": where.ephemeral ? "1" : null,
        disabled: where.inModal ? "disabled" : null,
      })}><span class="cb-text"><span class="cb-label">${text(o.text)}</span>${description}</span></label>`;
    });
    return `<div class="bk-checkboxes">${options.join("")}</div>`;
  }

  // A radio group in a modal: its choice is sent with the form, as Slack's state.values.
  function radios(el, block, where) {
    const initial = el.initial_option && el.initial_option.value;
    const name = `radio-${block.block_id}-${el.action_id}`;
    const options = (el.options || []).map((o) => `<label class="radio-option"><input type="radio"${attrs({
      name,
      value: o.value,
      checked: o.value === initial ? "checked" : null,
      disabled: where.inModal ? null : "disabled",
      "data-kind": "radio",
      "data-block-id": block.block_id,
      "data-action-id": el.action_id,
    })}><span>${text(o.text)}</span></label>`);
    return `<div class="bk-radios">${options.join("")}</div>`;
  }

  // A select menu in a modal: its choice is sent with the form.
  function staticSelect(el, block, where) {
    const initial = el.initial_option && el.initial_option.value;
    const placeholder = el.placeholder ? Mrkdwn.plain(el.placeholder) : "Choose";
    const options = (el.options || [])
      .map((o) => `<option${attrs({ value: o.value, selected: o.value === initial ? "selected" : null })}>${Mrkdwn.plain(o.text)}</option>`)
      .join("");
    return `<select class="bk-select"${attrs({
      "data-kind": "select",
      "data-block-id": block.block_id,
      "data-action-id": el.action_id,
      disabled: where.inModal ? null : "disabled",
    })}><option value="">${placeholder}</option>${options}</select>`;
  }

  // An overflow ("⋯") menu on a message: choosing an option sends it at once, as in Slack.
  function overflow(el, block, where) {
    const options = (el.options || [])
      .map((o) => `<option${attrs({ value: o.value })}>${Mrkdwn.plain(o.text)}</option>`)
      .join("");
    return `<select class="bk-select bk-overflow" aria-label="More actions"${attrs({
      "data-kind": "overflow",
      "data-action-id": el.action_id,
      "data-block-id": block.block_id,
      "data-ts": where.ts,
      "data-ephemeral": where.ephemeral ? "1" : null,
      disabled: where.inModal ? "disabled" : null,
    })}><option value="">⋯</option>${options}</select>`;
  }

  function element(el, block, where) {
    switch (el.type) {
      case "button":
        return button(el, block, where);
      case "checkboxes":
        return checkboxes(el, block, where);
      case "image":
        return `<img class="bk-image-el" alt="${esc(el.alt_text || "")}" src="${esc(Mrkdwn.safeUrl(el.image_url || "") || "")}">`;
      case "mrkdwn":
      case "plain_text":
        return `<span class="bk-context-text">${text(el)}</span>`;
      case "radio_buttons":
        return radios(el, block, where);
      case "static_select":
        return staticSelect(el, block, where);
      case "overflow":
        return overflow(el, block, where);
      default:
        return `<span class="bk-unsupported">[${esc(el.type || "element")}]</span>`;
    }
  }

  function block(b, where) {
    switch (b.type) {
      case "header":
        return `<div class="bk-header">${Mrkdwn.plain(b.text)}</div>`;
      case "divider":
        return `<hr class="bk-divider">`;
      case "section": {
        const fields = (b.fields || []).map((f) => `<div class="bk-field">${text(f)}</div>`).join("");
        const accessory = b.accessory ? `<div class="bk-accessory">${element(b.accessory, b, where)}</div>` : "";
        return `<div class="bk-section"${attrs({ "data-block-id": b.block_id })}><div class="bk-section-main">${
          b.text ? `<div class="bk-text">${text(b.text)}</div>` : ""
        }${fields ? `<div class="bk-fields">${fields}</div>` : ""}</div>${accessory}</div>`;
      }
      case "context":
        return `<div class="bk-context">${(b.elements || []).map((e) => element(e, b, where)).join("")}</div>`;
      case "actions":
        return `<div class="bk-actions"${attrs({ "data-block-id": b.block_id })}>${(b.elements || [])
          .map((e) => element(e, b, where))
          .join("")}</div>`;
      case "input": {
        const el = b.element || {};
        const id = `in-${b.block_id}-${el.action_id}`;
        const error = where.errors && where.errors[b.block_id];
        const control = el.type === "plain_text_input"
          ? (el.multiline
            ? `<textarea${attrs({ id, name: id, placeholder: el.placeholder && el.placeholder.text, maxlength: el.max_length, "data-block-id": b.block_id, "data-action-id": el.action_id })}>${esc(el.initial_value || "")}</textarea>`
            : `<input type="text"${attrs({ id, name: id, value: el.initial_value || "", placeholder: el.placeholder && el.placeholder.text, maxlength: el.max_length, "data-block-id": b.block_id, "data-action-id": el.action_id })}>`)
          : element(el, b, where);
        return `<div class="bk-input${error ? " has-error" : ""}"><label for="${esc(id)}">${Mrkdwn.plain(b.label)}${
          b.optional ? ' <span class="muted">(optional)</span>' : ""
        }</label>${control}${b.hint ? `<div class="bk-hint">${Mrkdwn.plain(b.hint)}</div>` : ""}<div class="bk-error" data-error-for="${esc(b.block_id)}">${error ? esc(error) : ""}</div></div>`;
      }
      case "image":
        return `<figure class="bk-image"><img alt="${esc(b.alt_text || "")}" src="${esc(Mrkdwn.safeUrl(b.image_url || "") || "")}"></figure>`;
      default:
        return `<div class="bk-unsupported">[${esc(b.type)} block]</div>`;
    }
  }

  const blocks = (list, where) => (list || []).map((b) => block(b, where)).join("");

  // --- messages -----------------------------------------------------------------------------------
  function clock(ts) {
    const d = new Date(Number(ts) * 1000);
    return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  }

  function files(list) {
    return (list || [])
      .map((f) => `<a class="file" href="${esc(Mrkdwn.safeUrl(f.url) || "#")}" download><span class="file-icon">📄</span><span><b>${esc(f.title || f.name || "file")}</b><br><span class="muted">${esc(f.name || "")} · ${f.size} bytes</span></span></a>`)
      .join("");
  }

  function message(m, { inThread, replies }) {
    const author = user(m.user) || { real_name: m.user, name: m.user };
    const isBot = m.user === page.state.bot_user_id || author.is_bot;
    const where = { ts: m.ts, ephemeral: !!m.ephemeral };
    const body = m.blocks && m.blocks.length ? blocks(m.blocks, where) : `<div class="bk-text">${md(m.text)}</div>`;
    const replyLink = !inThread && replies && replies.length
      ? `<button type="button" class="thread-link" data-thread="${esc(m.ts)}">${replies.length} ${replies.length === 1 ? "reply" : "replies"}</button><span class="muted"> last reply ${clock(replies[replies.length - 1].ts)}</span>`
      : "";
    const name = isBot ? "Launch Control" : author.real_name || author.name;
    const classes = ["msg", m.ephemeral ? "ephemeral" : "", page.highlight === m.ts ? "highlight" : ""].join(" ");
    return `<article class="${classes}"${attrs({ "data-ts": m.ts, "data-id": m.id })}>
      <div class="avatar${isBot ? " bot" : ""}">${esc((name || "?").slice(0, 1).toUpperCase())}</div>
      <div class="msg-main">
        <div class="msg-meta"><span class="author">${esc(name)}</span>${isBot ? '<span class="app-badge">APP</span>' : ""}<span class="time" title="${esc(m.ts)}">${clock(m.ts)}</span>${m.edited ? '<span class="muted">(edited)</span>' : ""}${
          m.ephemeral ? '<span class="only-you">👁 Only visible to you</span>' : ""
        }</div>
        ${m.broadcast && !inThread ? `<div class="muted broadcast-note">replied to a thread: <button type="button" class="thread-link" data-thread="${esc(m.thread_ts)}">view thread</button></div>` : ""}
        <div class="msg-body">${body}${files(m.files)}</div>
        ${replyLink ? `<div class="msg-replies">${replyLink}</div>` : ""}
        ${!inThread && !m.ephemeral ? `<button type="button" class="reply-action" data-thread="${esc(m.broadcast ? m.thread_ts : m.ts)}" title="Reply in thread">💬</button>` : ""}
      </div>
    </article>`;
  }

  function keepScroll(el, html) {
    const bottom = atBottom(el);
    const top = el.scrollTop;
    el.innerHTML = html;
    el.scrollTop = bottom ? el.scrollHeight : top;
  }

  function renderChannel() {
    const { messages, ephemerals } = page.state;
    const replies = {};
    for (const m of messages) {
      if (m.thread_ts && m.thread_ts !== m.ts) (replies[m.thread_ts] = replies[m.thread_ts] || []).push(m);
    }
    // Thread replies sent to the channel too (reply_broadcast) show in both places, as in Slack.
    const top = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.broadcast);
    const items = [...top, ...ephemerals.filter((e) => !e.thread_ts)].sort((a, b) => Number(a.ts) - Number(b.ts));
    const html = items.length
      ? items.map((m) => message(m, { inThread: false, replies: replies[m.ts] })).join("")
      : `<div class="empty">This is the very beginning of <b>#war-room</b>. Type <code>/launch start Rehearsal</code> to start a launch.</div>`;
    const el = $("#messages");
    const wasAtBottom = atBottom(el);
    keepScroll(el, html);
    // Scrolled up (to press a button on the card, say), a new message lands below the fold: a
    // "New messages" pill says so, as Slack does, until it is clicked or the channel is scrolled down.
    const latest = items.reduce((max, m) => Math.max(max, Number(m.ts)), 0);
    if (wasAtBottom || page.seenTs === null) page.seenTs = latest;
    $("#new-messages").classList.toggle("hidden", latest <= page.seenTs);
  }

  function atBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  }

  function seenAll() {
    const el = $("#messages");
    el.scrollTop = el.scrollHeight;
    markSeen();
  }

  function markSeen() {
    if (page.state) {
      const all = [...page.state.messages, ...page.state.ephemerals];
      page.seenTs = all.reduce((max, m) => Math.max(max, Number(m.ts)), page.seenTs || 0);
    }
    $("#new-messages").classList.add("hidden");
  }

  function renderThread() {
    const pane = $("#thread");
    if (!page.thread) {
      pane.classList.add("hidden");
      return;
    }
    const { messages, ephemerals } = page.state;
    const parent = messages.find((m) => m.ts === page.thread);
    if (!parent) {
      page.thread = null;
      pane.classList.add("hidden");
      return;
    }
    const replies = messages.filter((m) => m.thread_ts === page.thread && m.ts !== page.thread);
    const mine = ephemerals.filter((e) => e.thread_ts === page.thread);
    const items = [...replies, ...mine].sort((a, b) => Number(a.ts) - Number(b.ts));
    pane.classList.remove("hidden");
    keepScroll(
      $("#thread-messages"),
      message(parent, { inThread: true }) +
        `<div class="thread-count">${replies.length} ${replies.length === 1 ? "reply" : "replies"}</div>` +
        items.map((m) => message(m, { inThread: true })).join(""),
    );
  }

  function renderSim() {
    const events = page.state.sim_events || [];
    $("#sim-events").innerHTML = events.length
      ? events
        .slice()
        .reverse()
        .map((e) => `<li class="sim-${esc(e.kind)}"><span class="muted">${clock(e.at)}</span> ${esc(e.text)}</li>`)
        .join("")
      : '<li class="muted">Nothing paged, nothing halted yet.</li>';
  }

  // --- modals -------------------------------------------------------------------------------------
  function renderModal() {
    const root = $("#modal-root");
    const view = (page.state.views || [])[page.state.views.length - 1];
    if (!view) {
      root.innerHTML = "";
      page.modalKey = null;
      return;
    }
    const key = `${view.id}:${view.hash}`;
    if (page.modalKey !== key) {
      const v = view.view;
      root.innerHTML = `<div class="overlay"><div class="modal" role="dialog" aria-modal="true" data-view-id="${esc(view.id)}">
        <header><h3>${Mrkdwn.plain(v.title)}</h3><button type="button" class="icon modal-x" aria-label="Close">×</button></header>
        <form class="modal-body">${blocks(v.blocks, { ts: null, inModal: true, errors: view.errors })}</form>
        <footer>${v.close ? `<button type="button" class="bk-button modal-close">${Mrkdwn.plain(v.close)}</button>` : ""}${
          v.submit ? `<button type="button" class="bk-button bk-primary modal-submit">${Mrkdwn.plain(v.submit)}</button>` : ""
        }</footer></div></div>`;
      page.modalKey = key;
      const first = root.querySelector("input, textarea");
      if (first) first.focus();
    }
    // Errors change without a new hash: show them in place, keeping what was typed.
    root.querySelectorAll("[data-error-for]").forEach((el) => {
      const error = (view.errors || {})[el.dataset.errorFor] || "";
      el.textContent = error;
      el.parentElement.classList.toggle("has-error", !!error);
    });
  }

  function modalValues() {
    const values = {};
    const slot = (el) => (values[el.dataset.blockId] = values[el.dataset.blockId] || {});
    document.querySelectorAll("#modal-root [data-block-id][data-action-id]").forEach((el) => {
      if (el.dataset.kind === "radio") {
        const blockValues = slot(el);
        const chosen = blockValues[el.dataset.actionId];
        if (el.checked || !chosen) {
          blockValues[el.dataset.actionId] = {
            type: "radio_buttons",
            selected_option: el.checked ? { value: el.value } : (chosen ? chosen.selected_option : null),
          };
        }
        return;
      }
      if (el.dataset.kind === "select") {
        slot(el)[el.dataset.actionId] = {
          type: "static_select",
          selected_option: el.value === "" ? null : { value: el.value },
        };
        return;
      }
      if (el.tagName !== "INPUT" && el.tagName !== "TEXTAREA") return;
      if (el.type === "checkbox") return;
      slot(el)[el.dataset.actionId] = { type: "plain_text_input", value: el.value === "" ? null : el.value };
    });
    return values;
  }

  async function submitModal() {
    const modal = $("#modal-root .modal");
    if (!modal) return;
    const submit = modal.querySelector(".modal-submit");
    submit.disabled = true;
    try {
      const result = await post("/act/submit", { view_id: modal.dataset.viewId, values: modalValues() });
      if (!result.ok) toast(`The app did not answer: ${result.error || result.status}`);
    } finally {
      submit.disabled = false;
      refresh();
    }
  }

  async function closeModal() {
    const modal = $("#modal-root .modal");
    if (!modal) return;
    await post("/act/close", { view_id: modal.dataset.viewId });
    refresh();
  }

  // --- confirm dialogs (Slack's "confirm" object on a button) ------------------------------------
  function confirmDialog(confirm) {
    return new Promise((resolve) => {
      const root = $("#confirm-root");
      root.innerHTML = `<div class="overlay"><div class="modal confirm" role="alertdialog" aria-modal="true" id="confirm-dialog">
        <header><h3>${Mrkdwn.plain(confirm.title || { text: "Are you sure?" })}</h3></header>
        <div class="modal-body">${text(confirm.text)}</div>
        <footer><button type="button" class="bk-button confirm-no">${Mrkdwn.plain(confirm.deny || { text: "Cancel" })}</button>
        <button type="button" class="bk-button ${confirm.style === "danger" ? "bk-danger" : "bk-primary"} confirm-yes">${Mrkdwn.plain(confirm.confirm || { text: "Yes" })}</button></footer>
      </div></div>`;
      const done = (answer) => {
        root.innerHTML = "";
        resolve(answer);
      };
      root.querySelector(".confirm-yes").addEventListener("click", () => done(true));
      root.querySelector(".confirm-no").addEventListener("click", () => done(false));
      root.querySelector(".confirm-yes").focus();
    });
  }

  // --- what a person does -------------------------------------------------------------------------
  async function act(el) {
    const data = el.dataset;
    if (data.confirm && !(await confirmDialog(JSON.parse(data.confirm)))) {
      if (el.type === "checkbox") el.checked = !el.checked;
      return;
    }
    el.disabled = true;
    const result = await post("/act/click", {
      kind: data.kind,
      ts: data.ts,
      action_id: data.actionId,
      value: data.kind === "overflow" ? el.value : data.value,
      block_id: data.blockId,
      ephemeral: data.ephemeral === "1",
    });
    if (!result.ok) toast(result.error === "operation_timeout" ? "The app did not respond in time." : `That did not go through: ${result.error || result.status}`);
    refresh();
  }

  async function send(textarea, threadTs) {
    const value = textarea.value.trim();
    if (!value) return;
    textarea.value = "";
    // As in Slack, whoever sends jumps to the latest message: the answer lands below, in view
    // (the pane then stays at the bottom as messages arrive).
    if (threadTs) {
      const pane = $("#thread-messages");
      pane.scrollTop = pane.scrollHeight;
    } else {
      seenAll();
    }
    const result = await post("/act/command", { text: value, thread_ts: threadTs });
    if (result && result.ok === false && result.error && !["unknown_command", "not_in_thread"].includes(result.error)) {
      if (!value.startsWith("/")) toast(`Not sent: ${result.error}`);
    }
    refresh();
  }

  function toast(message) {
    const el = $("#toast");
    el.textContent = message;
    el.classList.remove("hidden");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => el.classList.add("hidden"), 5000);
  }

  function openThread(ts) {
    page.thread = ts;
    render();
    $("#thread-composer").focus();
  }

  function wire() {
    document.addEventListener("click", (event) => {
      const target = event.target.closest("button, input[type=checkbox]");
      if (!target) return;
      if (target.matches("[data-kind=button]")) {
        event.preventDefault();
        act(target);
      } else if (target.matches("[data-kind=checkbox]")) {
        act(target);
      } else if (target.matches("[data-thread]")) {
        openThread(target.dataset.thread);
      } else if (target.matches(".modal-submit")) {
        submitModal();
      } else if (target.matches(".modal-close, .modal-x")) {
        closeModal();
      }
    });
    document.addEventListener("change", (event) => {
      const target = event.target;
      if (target.matches("select[data-kind=overflow]") && target.value) act(target);
    });
    $("#new-messages").addEventListener("click", seenAll);
    $("#messages").addEventListener("scroll", () => {
      if (atBottom($("#messages"))) markSeen();
    });
    $("#thread-close").addEventListener("click", () => {
      page.thread = null;
      render();
    });
    $("#user-switcher").addEventListener("change", (event) => {
      page.me = event.target.value;
      page.seenTs = null; // someone else's answers are not news to them
      localStorage.setItem("launchbot.playground.user", page.me);
      refresh();
    });
    for (const [form, area, thread] of [
      ["#composer-form", "#composer", () => null],
      ["#thread-composer-form", "#thread-composer", () => page.thread],
    ]) {
      $(form).addEventListener("submit", (event) => {
        event.preventDefault();
        send($(area), thread());
      });
      $(area).addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          send($(area), thread());
        }
      });
    }
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && $("#modal-root .modal") && !$("#confirm-root .modal")) closeModal();
    });
    window.addEventListener("hashchange", followHash);
  }

  // A permalink (/archives/…) lands here as #ts=…: show that message, in its thread if it is a reply.
  function followHash() {
    const match = /ts=([\d.]+)/.exec(location.hash);
    if (!match || !page.state) return;
    const target = page.state.messages.find((m) => m.ts === match[1]);
    if (!target) return;
    page.highlight = target.ts;
    if (target.thread_ts && target.thread_ts !== target.ts) page.thread = target.thread_ts;
    render();
    const el = document.querySelector(`.msg[data-ts="${CSS.escape(target.ts)}"]`);
    if (el) el.scrollIntoView({ block: "center" });
  }

  function renderSpeed() {
    const speed = Number(page.state.speed || 1);
    const el = $("#speed");
    el.textContent = speed !== 1 ? `⏩ rehearsal clock ${speed}× real time` : "";
    el.classList.toggle("hidden", speed === 1);
  }

  function render() {
    if (!page.state) return;
    document.body.dataset.me = page.me;
    document.body.dataset.ready = page.state.ready ? "1" : "0";
    $("#channel-name").textContent = page.state.channel.name;
    $("#channel-title").textContent = page.state.channel.name;
    renderSpeed();
    renderSwitcher();
    renderChannel();
    renderThread();
    renderSim();
    renderModal();
    setConnection(true);
  }

  wire();
  refresh().then(followHash);
  connect();
})();
