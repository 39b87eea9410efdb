// HTML pages for QC: escaping, tables, sections, and the page's own image check.
import CordCore

/// A number with at most `digits` significant digits (trailing zeros dropped), without exponent.
public func shortNumber(_ v: Double, _ digits: Int = 4) -> String {
    guard v.isFinite else { return v.isNaN ? "–" : (v > 0 ? "∞" : "−∞") }
    if v == 0 { return "0" }
    var magnitude = 0
    var a = abs(v)
    while a >= 10 { a /= 10; magnitude += 1 }
    while a < 1 { a *= 10; magnitude -= 1 }
    var text = formatFixed(v, max(0, min(8, digits - 1 - magnitude)))
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text
}

/// HTML text pieces. Pages are self-contained: styles inline, no network, no external script.
public enum HTML {
    /// Text safe inside elements and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"; case "<": out += "&lt;"; case ">": out += "&gt;"
            case "\"": out += "&quot;"; case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A table with a header row; cells are escaped unless `raw`.
    public static func table(_ header: [String], _ rows: [[String]], raw: Bool = false, cssClass: String = "") -> String {
        var s = "<table\(cssClass.isEmpty ? "" : " class=\"\(cssClass)\"")><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for r in rows { s += "<tr>" + r.map { "<td>\(raw ? $0 : escape($0))</td>" }.joined() + "</tr>" }
        return s + "</tbody></table>"
    }

    /// An image (relative path) with a caption.
    public static func figure(_ src: String, caption: String, width: Int? = nil) -> String {
        "<figure><img src=\"\(escape(src))\" alt=\"\(escape(caption))\"\(width.map { " width=\"\($0)\"" } ?? "")><figcaption>\(escape(caption))</figcaption></figure>"
    }

    static let style = """
    body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f4f2;color:#1b1b1b}
    header{background:#1d3557;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;font-size:13px}
    nav{padding:6px 20px;background:#e4e8ee;font-size:13px}nav a{margin-right:12px}
    main{padding:8px 20px 40px}section{background:#fff;border:1px solid #d0d0d0;border-radius:6px;margin:14px 0;padding:10px 16px}
    section h2{font-size:17px;margin:4px 0 8px}h3{font-size:14px;margin:10px 0 4px}
    table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
    th{background:#eef0f3}figure{display:inline-block;margin:6px 12px 6px 0;vertical-align:top}figcaption{font-size:12px;color:#333;max-width:1100px}
    img{image-rendering:pixelated;border:1px solid #888;max-width:100%}.warn{color:#9a4a00}.fail{color:#b00020;font-weight:bold}
    .status-done,.status-pass{color:#00704a;font-weight:bold}.status-skipped{color:#666}.status-failed,.status-fail{color:#b00020;font-weight:bold}
    .status-flag{color:#9a4a00;font-weight:bold}.plots svg{margin:4px 10px 4px 0;border:1px solid #ddd}
    #broken-images{display:none;background:#b00020;color:#fff;padding:8px 20px}
    td.thumb img{max-width:320px;max-height:170px}textarea{width:220px;height:38px}
    """

    /// The page check: once loaded, counts images that failed (no pixels) and shows a red
    /// banner naming them; the counts go to `body` as `data-images` and `data-broken-images`.
    static let imageCheck = """
    window.addEventListener('load',function(){var imgs=document.images,bad=[];
    for(var i=0;i<imgs.length;i++){if(!imgs[i].complete||imgs[i].naturalWidth===0){bad.push(imgs[i].getAttribute('src'));}}
    document.body.setAttribute('data-images',String(imgs.length));document.body.setAttribute('data-broken-images',String(bad.length));
    if(bad.length){var b=document.getElementById('broken-images');b.textContent=bad.length+' image(s) did not load: '+bad.join(', ');b.style.display='block';}});
    """

    /// A whole page: title, subtitle, navigation (anchor, label), body and optional extra script.
    public static func page(title: String, subtitle: String, nav: [(String, String)], body: String, script: String = "") -> String {
        var s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        s += "<title>\(escape(title))</title><style>\(style)</style></head><body>"
        s += "<div id=\"broken-images\"></div><header><h1>\(escape(title))</h1><p>\(escape(subtitle))</p></header>"
        if !nav.isEmpty { s += "<nav>" + nav.map { "<a href=\"#\(escape($0.0))\">\(escape($0.1))</a>" }.joined() + "</nav>" }
        s += "<main>\(body)</main><script>\(imageCheck)\(script)</script></body></html>\n"
        return s
    }

    /// A section with an anchor.
    public static func section(_ id: String, _ title: String, _ content: String) -> String {
        "<section id=\"\(escape(id))\"><h2>\(escape(title))</h2>\(content)</section>"
    }
}
