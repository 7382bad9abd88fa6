/* MedAssist: French for the few strings Chainlit hard-codes in English.
 *
 * Chainlit's translation file (.chainlit/translations/fr-FR.json, written by ui/launch.py) covers
 * most of the interface, but some texts are built in its JavaScript and never translated: the
 * upload error toasts of react-dropzone ("File type must be application/pdf, ..."), the size limit
 * unit ("Limite : 20mb") and the sidebar button label ("Toggle Sidebar"). This script rewrites
 * them as they appear (MutationObserver) and declares the page French (<html lang="fr">, also set
 * by the server). Loaded through `custom_js` in .chainlit/config.toml; tested with Node in
 * tests/test_ui_messages.py.
 */
(function () {
  "use strict";

  var FORMATS = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "text/plain": "TXT",
    "text/markdown": "Markdown",
    "text/html": "HTML"
  };

  function formats(list) {
    var names = [];
    list.split(/,\s*/).forEach(function (item) {
      var name = FORMATS[item.trim()] || (item.trim().charAt(0) === "." ? item.trim().slice(1).toUpperCase() : "");
      if (name && names.indexOf(name) < 0) names.push(name);
    });
    return names.join(", ");
  }

  /** The French text of an English Chainlit string, or null when it is not one of them. */
  function translate(text) {
    if (typeof text !== "string") return null;
    var t = text.trim();
    var m;
    if ((m = /^File type must be (?:one of )?(.+)$/.exec(t))) {
      var f = formats(m[1]);
      return "Type de fichier non accepté" + (f ? " : formats autorisés " + f + "." : ".");
    }
    if ((m = /^File is larger than (\d+(?:\.\d+)?) ?MB$/i.exec(t))) {
      return "Fichier trop volumineux : " + m[1] + " Mo au maximum.";
    }
    if ((m = /^File is larger than (\d+) bytes?$/.exec(t))) {
      return "Fichier trop volumineux : " + (Number(m[1]) / 1e6).toLocaleString("fr-FR") + " Mo au maximum.";
    }
    if (/^File is smaller than \d+ bytes?$/.test(t)) return "Fichier vide ou trop petit.";
    if (t === "Too many files") return "Trop de fichiers : déposez-en moins à la fois.";
    if (t === "Toggle Sidebar") return "Afficher ou masquer l'historique";
    if ((m = /^(\d+(?:[.,]\d+)?)\s?mb$/i.exec(t))) return m[1] + " Mo";
    return null;
  }

  var ATTRIBUTES = ["aria-label", "title", "placeholder"];

  function fixText(node) {
    var value = node.nodeValue;
    if (!value || !value.trim()) return;
    var fr = translate(value);
    if (fr !== null) {
      node.nodeValue = fr;
      return;
    }
    // "Limite : " + "20" + "mb": React renders the unit as a text node of its own
    if (value === "mb" && node.previousSibling && node.previousSibling.nodeType === 3 &&
        /^\d+(?:[.,]\d+)?$/.test(node.previousSibling.nodeValue.trim())) {
      node.nodeValue = " Mo";
    }
  }

  function fixElement(el) {
    ATTRIBUTES.forEach(function (name) {
      if (el.hasAttribute && el.hasAttribute(name)) {
        var fr = translate(el.getAttribute(name));
        if (fr !== null) el.setAttribute(name, fr);
      }
    });
  }

  function walk(root) {
    if (!root) return;
    if (root.nodeType === 3) {
      fixText(root);
      return;
    }
    if (root.nodeType !== 1) return;
    fixElement(root);
    var doc = root.ownerDocument || document;
    var walker = doc.createTreeWalker(root, 5 /* SHOW_ELEMENT | SHOW_TEXT */);
    var node;
    while ((node = walker.nextNode())) {
      if (node.nodeType === 3) fixText(node);
      else fixElement(node);
    }
  }

  function start() {
    document.documentElement.setAttribute("lang", "fr");
    walk(document.body);
    new MutationObserver(function (mutations) {
      mutations.forEach(function (mu) {
        if (mu.type === "characterData") fixText(mu.target);
        else if (mu.type === "attributes") fixElement(mu.target);
        else mu.addedNodes.forEach(walk);
      });
    }).observe(document.documentElement, {
      subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ATTRIBUTES
    });
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { translate: translate };
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
