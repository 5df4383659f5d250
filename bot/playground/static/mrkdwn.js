// Slack's mrkdwn to HTML, faithfully enough to read a war-room channel. Everything that reaches the
// page is escaped here: the text comes from the bot (and, through it, from users), never trusted.
"use strict";

const Mrkdwn = (() => {
  const EMOJI = {
    warning: "⚠️", x: "❌", white_check_mark: "✅", heavy_check_mark: "✔️", rotating_light: "🚨",
    rocket: "🚀", page_facing_up: "📄", leftwards_arrow_with_hook: "↩️", red_circle: "🔴",
    large_green_circle: "🟢", large_yellow_circle: "🟡", octagonal_sign: "🛑", lock: "🔒",
    hourglass: "⌛", hourglass_flowing_sand: "⏳", bell: "🔔", telephone_receiver: "📞",
    pager: "📟", ballot_box_with_check: "☑️", no_entry: "⛔", fire: "🔥", tada: "🎉",
    white_circle: "⚪", black_circle: "⚫", arrow_right: "➡️", clipboard: "📋", eyes: "👀",
  };

  const DAY = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  const MONTH = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];

  function escapeHtml(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  // Slack sends its three control characters as entities; show them as the characters they are.
  function decodeEntities(s) {
    return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function safeUrl(url) {
    return /^(https?:|mailto:|tel:|\/)/i.test(url) ? url : null;
  }

  const pad = (n) => String(n).padStart(2, "0");

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  function prettyDay(d, fallback) {
    const now = new Date();
    const yesterday = new Date(now.getTime() - 86400000);
    const tomorrow = new Date(now.getTime() + 86400000);
    if (sameDay(d, now)) return "Today";
    if (sameDay(d, yesterday)) return "Yesterday";
    if (sameDay(d, tomorrow)) return "Tomorrow";
    return fallback;
  }

  function ago(d) {
    const secs = Math.round((Date.now() - d.getTime()) / 1000);
    const future = secs < 0;
    const a = Math.abs(secs);
    const [n, unit] = a < 60 ? [a, "second"] : a < 3600 ? [Math.round(a / 60), "minute"]
      : a < 86400 ? [Math.round(a / 3600), "hour"] : [Math.round(a / 86400), "day"];
    const phrase = `${n} ${unit}${n === 1 ? "" : "s"}`;
    return future ? `in ${phrase}` : `${phrase} ago`;
  }

  // <!date^epoch^format^link|fallback>: Slack shows it in the reader's own time zone.
  function formatDate(epoch, format) {
    const d = new Date(epoch * 1000);
    if (Number.isNaN(d.getTime())) return null;
    const date = `${MONTH[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()}`;
    const dateShort = `${MONTH[d.getMonth()].slice(0, 3)} ${d.getDate()}, ${d.getFullYear()}`;
    const dateLong = `${DAY[d.getDay()]}, ${date}`;
    const tokens = {
      date_num: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
      date, date_short: dateShort, date_long: dateLong,
      date_pretty: prettyDay(d, date), date_short_pretty: prettyDay(d, dateShort),
      date_long_pretty: prettyDay(d, dateLong),
      time: `${pad(d.getHours())}:${pad(d.getMinutes())}`,
      time_secs: `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
      ago: ago(d),
    };
    return format.replace(/\{(\w+)\}/g, (m, key) => (key in tokens ? tokens[key] : m));
  }

  // One <…> special: a mention, a link, a date. Returns HTML.
  function special(inner, ctx) {
    const bar = inner.indexOf("|");
    const target = bar >= 0 ? inner.slice(0, bar) : inner;
    const label = bar >= 0 ? inner.slice(bar + 1) : null;
    if (target.startsWith("@")) {
      const id = target.slice(1);
      const name = ctx.userName(id) || (label ? label.replace(/^@/, "") : id);
      return `<span class="mention" data-user="${escapeHtml(id)}">@${escapeHtml(decodeEntities(name))}</span>`;
    }
    if (target.startsWith("#")) {
      const name = label || ctx.channelName(target.slice(1)) || target.slice(1);
      return `<span class="mention channel">#${escapeHtml(decodeEntities(name))}</span>`;
    }
    if (target.startsWith("!")) {
      const [kind, ...rest] = target.slice(1).split("^");
      if (kind === "here" || kind === "channel" || kind === "everyone") {
        return `<span class="mention broadcast">@${kind}</span>`;
      }
      if (kind === "subteam") {
        return `<span class="mention">${escapeHtml(decodeEntities(label || "@group"))}</span>`;
      }
      if (kind === "date") {
        const shown = formatDate(Number(rest[0]), decodeEntities(rest[1] || "{date_num} {time}"));
        const text = shown === null ? decodeEntities(label || "") : shown;
        const link = rest[2] ? safeUrl(decodeEntities(rest[2])) : null;
        if (shown === null) return escapeHtml(text); // a bad epoch: Slack shows the fallback
        const span = `<time class="date" datetime="${escapeHtml(new Date(Number(rest[0]) * 1000).toISOString())}">${escapeHtml(text)}</time>`;
        return link ? `<a href="${escapeHtml(link)}" target="_blank" rel="noopener">${span}</a>` : span;
      }
      return escapeHtml(decodeEntities(label || `@${kind}`));
    }
    const url = safeUrl(decodeEntities(target));
    const text = decodeEntities(label || target.replace(/^mailto:|^tel:/, ""));
    if (!url) return escapeHtml(text);
    const external = !url.startsWith("/") && !url.startsWith(location.origin);
    return `<a href="${escapeHtml(url)}"${external ? ' target="_blank" rel="noopener"' : ""}>${escapeHtml(text)}</a>`;
  }

  // Inline styles on already-escaped text. Slack needs the markers at word boundaries.
  function inline(html) {
    return html
      .replace(/(^|[\s(>\u0001])\*(?!\s)([^*\n]+?)\*(?=$|[\s).,:;!?<\u0001])/g, "$1<b>$2</b>")
      .replace(/(^|[\s(>\u0001])_(?!\s)([^_\n]+?)_(?=$|[\s).,:;!?<\u0001])/g, "$1<i>$2</i>")
      .replace(/(^|[\s(>\u0001])~(?!\s)([^~\n]+?)~(?=$|[\s).,:;!?<\u0001])/g, "$1<s>$2</s>")
      .replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
  }

  function renderLine(text, ctx) {
    // Specials first, kept out of the way as placeholders so styles can wrap them (*<@U1>*).
    const specials = [];
    let body = text.replace(/<([^<>]*)>/g, (m, inner) => {
      specials.push(special(inner, ctx));
      return `\u0001${specials.length - 1}\u0001`;
    });
    // Inline code: no styles inside.
    const codes = [];
    body = body.replace(/`([^`\n]+)`/g, (m, code) => {
      codes.push(`<code>${escapeHtml(decodeEntities(code.replace(/\u0001(\d+)\u0001/g, "")))}</code>`);
      return `\u0002${codes.length - 1}\u0002`;
    });
    body = inline(escapeHtml(decodeEntities(body)));
    body = body.replace(/\u0002(\d+)\u0002/g, (m, i) => codes[Number(i)]);
    return body.replace(/\u0001(\d+)\u0001/g, (m, i) => specials[Number(i)]);
  }

  function renderText(text, ctx) {
    const lines = text.split("\n");
    const out = [];
    let quote = [];
    const flush = () => {
      if (quote.length) out.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
      quote = [];
    };
    for (const line of lines) {
      const q = /^(>|&gt;)\s?(.*)$/.exec(line);
      if (q) {
        quote.push(renderLine(q[2], ctx));
        continue;
      }
      flush();
      out.push(renderLine(line, ctx));
    }
    flush();
    return out.join("<br>").replace(/<\/blockquote><br>/g, "</blockquote>");
  }

  /** mrkdwn (Slack-escaped) to safe HTML. ctx: {userName(id), channelName(id)}. */
  function render(text, ctx) {
    ctx = ctx || { userName: () => null, channelName: () => null };
    const parts = String(text || "").split("```");
    return parts
      .map((part, i) => (i % 2 === 1 && i < parts.length - 1
        ? `<pre>${escapeHtml(decodeEntities(part.replace(/^\n/, "")))}</pre>`
        : renderText(part, ctx)))
      .join("");
  }

  /** plain_text: shown as typed, emoji shortcodes as Slack does with "emoji": true. */
  function plain(obj) {
    if (!obj) return "";
    const text = escapeHtml(typeof obj === "string" ? obj : obj.text || "");
    return obj.emoji === false ? text : text.replace(/:([a-z0-9_+-]+):/g, (m, n) => EMOJI[n] || m);
  }

  return { render, plain, escapeHtml, formatDate, safeUrl };
})();
