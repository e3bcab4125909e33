// certstamp: check a booth certificate in the browser, with WebCrypto only.
//
// Two pages use it:
// - the kiosk's certificate page: an element [data-certstamp-verify] carries the chain
//   (base64 DER, leaf first), the booth root and its pinned SHA-256 fingerprint;
// - the static archive's 404.html, served for /c/{token}: the token in the address
//   gives the document's name and key (see src/archive/doc.rs), the document is
//   fetched, decrypted, shown and checked the same way.
// The checks follow src/verify.rs: leaf -> conference CA -> booth root by ECDSA P-256
// signature and names, CA flags, clientAuth, dates, then the voided state.
// Text from certificates and documents only ever goes in through textContent.
(function () {
  'use strict';

  var ECDSA_SHA256 = '1.2.840.10045.4.3.2';
  var EC_PUBLIC_KEY = '1.2.840.10045.2.1';
  var P256 = '1.2.840.10045.3.1.7';
  var BASIC_CONSTRAINTS = '2.5.29.19';
  var EXT_KEY_USAGE = '2.5.29.37';
  var CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
  var NAMES = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.7': 'L' };
  var utf8 = new TextEncoder();

  function fail(why) {
    throw new Error(why);
  }

  // ---- A small DER reader: enough of X.509 for the booth's certificates. ----

  function tlv(b, pos, end) {
    if (pos + 2 > end) fail('truncated DER');
    var len = b[pos + 1];
    var body = pos + 2;
    if (len & 0x80) {
      var n = len & 0x7f;
      if (n < 1 || n > 3 || body + n > end) fail('unsupported DER length');
      len = 0;
      for (var i = 0; i < n; i++) len = len * 256 + b[body + i];
      body += n;
    }
    if (body + len > end) fail('truncated DER');
    return { tag: b[pos], start: pos, body: body, end: body + len };
  }

  function kids(b, t) {
    var out = [];
    for (var p = t.body; p < t.end; ) {
      var k = tlv(b, p, t.end);
      out.push(k);
      p = k.end;
    }
    return out;
  }

  function content(b, t) {
    return b.subarray(t.body, t.end);
  }

  function whole(b, t) {
    return b.subarray(t.start, t.end);
  }

  function oid(b, t) {
    if (t.tag !== 0x06) fail('expected an OID');
    var v = content(b, t);
    var parts = [];
    var n = 0;
    for (var i = 0; i < v.length; i++) {
      n = n * 128 + (v[i] & 0x7f);
      if (!(v[i] & 0x80)) {
        if (parts.length === 0) parts.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
        else parts.push(n);
        n = 0;
      }
    }
    return parts.join('.');
  }

  function text(b, t) {
    var v = content(b, t);
    if (t.tag === 0x0c) return new TextDecoder('utf-8', { fatal: true }).decode(v);
    if (t.tag === 0x1e) return new TextDecoder('utf-16be').decode(v);
    return String.fromCharCode.apply(null, Array.prototype.slice.call(v));
  }

  function names(b, t) {
    var out = {};
    kids(b, t).forEach(function (rdn) {
      kids(b, rdn).forEach(function (atv) {
        var k = kids(b, atv);
        var key = NAMES[oid(b, k[0])];
        if (key && !(key in out)) out[key] = text(b, k[1]);
      });
    });
    return out;
  }

  function time(b, t) {
    var s = text(b, t);
    var m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m || (t.tag === 0x17) !== (m[1].length === 2)) fail('unsupported time ' + s);
    var y = Number(m[1]);
    if (m[1].length === 2) y += y < 50 ? 2000 : 1900;
    return new Date(Date.UTC(y, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }

  function bitString(b, t) {
    if (t.tag !== 0x03 || t.end === t.body || b[t.body] !== 0) fail('expected a BIT STRING');
    return b.subarray(t.body + 1, t.end);
  }

  function extensions(b, t, cert) {
    kids(b, kids(b, t)[0]).forEach(function (ext) {
      var k = kids(b, ext);
      var id = oid(b, k[0]);
      var value = k[k.length - 1];
      var inner = tlv(b, value.body, value.end);
      if (id === BASIC_CONSTRAINTS) {
        var bc = kids(b, inner);
        cert.isCA = bc.length > 0 && bc[0].tag === 0x01 && b[bc[0].body] !== 0;
      } else if (id === EXT_KEY_USAGE) {
        cert.clientAuth = kids(b, inner).some(function (u) {
          return oid(b, u) === CLIENT_AUTH;
        });
      }
    });
  }

  function parseCert(der) {
    var c = tlv(der, 0, der.length);
    if (c.tag !== 0x30 || c.end !== der.length) fail('not a certificate');
    var top = kids(der, c);
    if (top.length !== 3) fail('not a certificate');
    var f = kids(der, top[0]);
    var i = f[0].tag === 0xa0 ? 1 : 0;
    var spki = kids(der, f[i + 5]);
    var keyAlg = kids(der, spki[0]);
    var validity = kids(der, f[i + 3]);
    var cert = {
      der: der,
      tbs: whole(der, top[0]),
      sigAlg: oid(der, kids(der, top[1])[0]),
      tbsSigAlg: oid(der, kids(der, f[i + 1])[0]),
      sig: bitString(der, top[2]),
      serial: hex(content(der, f[i]), ':'),
      issuerDer: whole(der, f[i + 2]),
      subjectDer: whole(der, f[i + 4]),
      issuer: names(der, f[i + 2]),
      subject: names(der, f[i + 4]),
      notBefore: time(der, validity[0]),
      notAfter: time(der, validity[1]),
      spki: whole(der, f[i + 5]),
      p256: oid(der, keyAlg[0]) === EC_PUBLIC_KEY && keyAlg.length > 1 && oid(der, keyAlg[1]) === P256,
      isCA: false,
      clientAuth: false,
    };
    for (var j = i + 6; j < f.length; j++) if (f[j].tag === 0xa3) extensions(der, f[j], cert);
    return cert;
  }

  // ECDSA-Sig-Value (DER SEQUENCE of r, s) to the 64-byte r||s that WebCrypto takes.
  function rawSignature(b) {
    var seq = tlv(b, 0, b.length);
    var rs = seq.tag === 0x30 && seq.end === b.length ? kids(b, seq) : [];
    if (rs.length !== 2) fail('malformed signature');
    var out = new Uint8Array(64);
    rs.forEach(function (t, i) {
      var v = content(b, t);
      while (v.length > 32 && v[0] === 0) v = v.subarray(1);
      if (t.tag !== 0x02 || v.length > 32) fail('malformed signature');
      out.set(v, 32 * (i + 1) - v.length);
    });
    return out;
  }

  // ---- Helpers ----

  function hex(bytes, sep) {
    return Array.prototype.map
      .call(bytes, function (x) {
        return (x < 16 ? '0' : '') + x.toString(16);
      })
      .join(sep)
      .toUpperCase();
  }

  function fromBase64(s) {
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function toBase64(bytes) {
    return btoa(String.fromCharCode.apply(null, Array.prototype.slice.call(bytes)));
  }

  function pem(der) {
    return '-----BEGIN CERTIFICATE-----\n' + toBase64(der).replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n') + '-----END CERTIFICATE-----\n';
  }

  function same(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function human(d) {
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  async function sha256(parts) {
    var n = parts.reduce(function (s, p) {
      return s + p.length;
    }, 0);
    var buf = new Uint8Array(n);
    var at = 0;
    parts.forEach(function (p) {
      buf.set(p, at);
      at += p.length;
    });
    return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  }

  // ---- The checks (as src/verify.rs) ----

  async function signedBy(child, parent) {
    if (!same(child.issuerDer, parent.subjectDer) || !parent.p256) return false;
    if (child.sigAlg !== ECDSA_SHA256 || child.tbsSigAlg !== ECDSA_SHA256) return false;
    var key = await crypto.subtle.importKey('spki', parent.spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, rawSignature(child.sig), child.tbs);
  }

  // Returns { state, reason, leaf, ca, root, rootFingerprint }.
  async function check(chain, rootDer, pinned, voided, now) {
    var r = { state: 'invalid', reason: '' };
    r.root = parseCert(rootDer);
    r.leaf = parseCert(chain[0]);
    r.rootFingerprint = hex(await sha256([rootDer]), ':');
    if (pinned && r.rootFingerprint !== pinned) {
      r.reason = 'it comes with a root that is not the booth root';
      return r;
    }
    if (!r.root.isCA || !(await signedBy(r.root, r.root))) {
      r.reason = 'the booth root is not a self-signed CA';
      return r;
    }
    if (r.leaf.isCA) {
      r.reason = 'it is a CA certificate, not a visitor’s certificate';
      return r;
    }
    for (var i = 1; i < chain.length && !r.ca; i++) {
      var c = parseCert(chain[i]);
      if (await signedBy(r.leaf, c)) r.ca = c;
    }
    if (!r.ca) {
      r.reason = 'its signature does not verify: it was altered, or another CA issued it';
      return r;
    }
    if (!r.ca.isCA || !(await signedBy(r.ca, r.root))) {
      r.reason = 'its conference CA is not signed by the booth root';
      return r;
    }
    if (!r.leaf.clientAuth) {
      r.reason = 'it is not a client certificate';
      return r;
    }
    if (voided) {
      r.state = 'voided';
      return r;
    }
    var certs = [
      ['the booth root', r.root],
      ['its conference CA', r.ca],
      ['the certificate', r.leaf],
    ];
    for (var j = 0; j < certs.length; j++) {
      var what = certs[j][0];
      var cert = certs[j][1];
      if (now < cert.notBefore) {
        r.state = 'not-yet-valid';
        r.reason = what + ' is not valid until ' + human(cert.notBefore);
        return r;
      }
      if (now > cert.notAfter) {
        r.state = 'expired';
        r.reason = what + ' expired on ' + human(cert.notAfter);
        return r;
      }
    }
    r.state = 'verified';
    return r;
  }

  // ---- Showing results ----

  function say(el, state, message) {
    el.setAttribute('data-state', state);
    el.className = 'notice' + (state === 'verified' ? ' ok' : state === 'looking' ? '' : ' bad');
    el.textContent = message;
  }

  function describe(r, voidedAt) {
    var by = r.ca ? r.ca.subject.CN || 'the conference CA' : '';
    switch (r.state) {
      case 'verified':
        return 'Verified: signed by ' + by + ' under the booth root, valid until ' + human(r.leaf.notAfter) + '. Checked in this browser.';
      case 'voided':
        return 'Voided: booth staff voided this certificate' + (voidedAt ? ' on ' + voidedAt : '') + '. Its signatures check out, but it is no longer valid.';
      case 'expired':
        return 'Expired: ' + r.reason + '. Its signatures check out.';
      case 'not-yet-valid':
        return 'Not valid yet: ' + r.reason + '.';
      default:
        return 'Not verified: ' + r.reason + '.';
    }
  }

  async function verifyInPlace(box) {
    var result = box.querySelector('[data-result]');
    if (!result) return;
    if (!window.crypto || !crypto.subtle) {
      say(result, 'unsupported', 'This browser cannot check the signatures here: it needs a secure (https) page with WebCrypto.');
      return;
    }
    try {
      var chain = box.getAttribute('data-chain').trim().split(/\s+/).map(fromBase64);
      var root = fromBase64(box.getAttribute('data-root'));
      var voided = box.getAttribute('data-voided') === 'true';
      var r = await check(chain, root, box.getAttribute('data-root-fingerprint'), voided, new Date());
      say(result, r.state, describe(r, box.getAttribute('data-voided-at')));
    } catch (e) {
      say(result, 'invalid', 'Not verified: the certificate could not be read (' + e.message + ').');
    }
  }

  // ---- The archive's certificate page ----

  function field(page, name) {
    return page.querySelector('[data-field="' + name + '"]');
  }

  function fill(page, doc, chain, fingerprints, r) {
    var leaf = r.leaf;
    field(page, 'name').textContent = leaf.subject.CN || 'Certificate';
    document.title = (leaf.subject.CN || 'Certificate') + ' · ' + document.title;
    field(page, 'subject').textContent = 'CN=' + (leaf.subject.CN || '');
    var ca = r.ca || r.root;
    var conf = (ca.subject.CN || '').replace(/ intermediate CA$/, '');
    field(page, 'conference').textContent = conf + (ca.subject.L ? ', ' + ca.subject.L : '') + ' (' + doc.conference + ')';
    field(page, 'serial').textContent = leaf.serial;
    field(page, 'fingerprint').textContent = fingerprints[0];
    field(page, 'not-before').textContent = human(leaf.notBefore);
    field(page, 'not-after').textContent = human(leaf.notAfter);
    var list = field(page, 'chain');
    var links = [leaf.subject.CN + ' (this certificate)'];
    chain.slice(1).forEach(function (d, i) {
      links.push(parseCert(d).subject.CN + ' — SHA-256 ' + fingerprints[i + 1]);
    });
    links.push(r.root.subject.CN + ' — SHA-256 ' + r.rootFingerprint);
    links.forEach(function (t) {
      var li = document.createElement('li');
      li.textContent = t;
      list.appendChild(li);
    });
    if (/^<svg[\x20-\x7e]*<\/svg>$/.test(doc.seal)) {
      var seal = field(page, 'seal');
      seal.src = 'data:image/svg+xml;base64,' + btoa(doc.seal);
      seal.hidden = false;
    }
    var certPem = pem(chain[0]);
    field(page, 'download-cert').href = 'data:application/x-pem-file;base64,' + btoa(certPem);
    field(page, 'download-chain').href = 'data:application/x-pem-file;base64,' + btoa(chain.map(pem).join(''));
    field(page, 'details').hidden = false;
  }

  async function archivePage(page) {
    var m = /\/c\/([A-Za-z0-9_-]{43})\/?$/.exec(location.pathname);
    if (!m) return;
    var missing = document.getElementById('certstamp-not-found');
    if (missing) missing.hidden = true;
    page.hidden = false;
    var result = page.querySelector('[data-result]');
    if (!window.crypto || !crypto.subtle || typeof DecompressionStream === 'undefined') {
      say(result, 'unsupported', 'This browser cannot look up certificates here: it needs a current browser and a secure (https) page.');
      return;
    }
    say(result, 'looking', 'Looking up this certificate…');
    var doc;
    var chain;
    var name;
    try {
      var hash = await sha256([utf8.encode('certstamp token v1\u0000'), utf8.encode(m[1])]);
      name = hex(await sha256([utf8.encode('certstamp archive name v1\u0000'), hash]), '').toLowerCase();
      var keyBytes = await sha256([utf8.encode('certstamp archive key v1\u0000'), hash]);
      var res = await fetch(page.getAttribute('data-base') + 'c/' + name + '.json', {
        credentials: 'omit',
        cache: 'no-cache',
        referrerPolicy: 'no-referrer',
      });
      // Hosts told to fall back to 404.html (nginx try_files, CloudFront) answer a
      // missing document with that page, sometimes as 200.
      var type = res.headers.get('content-type') || '';
      if (res.status === 404 || (res.ok && type.indexOf('json') < 0)) {
        say(result, 'not-found', 'Not found: this archive has no certificate for this link. Check that the whole code was read.');
        return;
      }
      if (!res.ok) fail('the archive answered ' + res.status);
      var sealed = await res.json();
      if (sealed.v !== 1 || sealed.alg !== 'A256GCM' || sealed.zip !== 'DEF') fail('unknown document format');
      var key = await crypto.subtle.importKey('raw', keyBytes, 'AES-GCM', false, ['decrypt']);
      var plain = await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: fromBase64(sealed.iv), additionalData: utf8.encode(name) },
        key,
        fromBase64(sealed.data),
      );
      var inflated = new Blob([plain]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
      doc = JSON.parse(new TextDecoder().decode(await new Response(inflated).arrayBuffer()));
      chain = doc.chain.map(fromBase64);
    } catch (e) {
      say(result, 'error', 'Could not load this certificate (' + e.message + '). Please try again later.');
      return;
    }
    try {
      var rootDer = fromBase64(doc.root);
      var fingerprints = [];
      for (var i = 0; i < chain.length; i++) fingerprints.push(hex(await sha256([chain[i]]), ':'));
      var r = await check(chain, rootDer, page.getAttribute('data-root-fingerprint'), doc.state === 'voided', new Date());
      fill(page, doc, chain, fingerprints, r);
      var voidedAt = doc.voided_at ? human(new Date(doc.voided_at)) : '';
      say(result, r.state, describe(r, voidedAt));
    } catch (e) {
      say(result, 'invalid', 'Not verified: the certificate could not be read (' + e.message + ').');
    }
  }

  function start() {
    document.querySelectorAll('[data-certstamp-verify]').forEach(verifyInPlace);
    var page = document.getElementById('certstamp-archive');
    if (page) archivePage(page);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
