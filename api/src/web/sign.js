// tranche: signs evidence statements in the browser with the partner's key file. The file is
// read here and never sent; the page holds the exact bytes to sign (the statements' canonical
// form with their domain prefix) and the ledger checks every signature as it does any other.
(function () {
  "use strict";
  var form = document.getElementById("sign-form");
  if (!form) { return; }
  var status = document.getElementById("sign-status");
  function say(text) { status.textContent = text; }
  function bytes(b64) { return Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); }); }
  document.getElementById("sign-button").addEventListener("click", async function () {
    var file = document.getElementById("keyfile").files[0];
    if (!file) { say("Choose your key file first."); return; }
    try {
      var parts = (await file.text()).trim().split("+");
      if (parts.length < 4 || parts[0] !== "TRANCHE-PARTNER-KEY") {
        throw new Error("this is not a tranche partner key file");
      }
      if (parts[1] !== form.dataset.partner) {
        throw new Error("this key is for partner " + parts[1] + ", not " + form.dataset.partner);
      }
      var seed = bytes(parts.slice(3).join("+"));
      if (seed.length !== 32) { throw new Error("the key file does not hold a 32-byte key"); }
      // PKCS #8 wrapping of an Ed25519 seed (RFC 8410).
      var pkcs8 = new Uint8Array(48);
      pkcs8.set([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                 0x04, 0x22, 0x04, 0x20]);
      pkcs8.set(seed, 16);
      var key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
      var inputs = form.querySelectorAll("input[data-message]");
      for (var i = 0; i < inputs.length; i++) {
        var sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key,
                                                          bytes(inputs[i].dataset.message)));
        inputs[i].value = btoa(String.fromCharCode.apply(null, sig));
      }
      form.querySelector("input[name=key_id]").value = parts[2];
      say("Signed " + inputs.length + " statement(s); submitting.");
      form.submit();
    } catch (e) {
      say("Could not sign: " + e.message + ". You can sign the CSV with tranche partner sign instead.");
    }
  });
})();
