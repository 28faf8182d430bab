// A strict XML well-formedness parser for the report tests: pages must parse as XML (XHTML style) into
// a small DOM that tests query by id, element name and text.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace circuits::test {

struct XmlNode {
    std::string name;  // element name; empty for a text node
    std::map<std::string, std::string> attributes;  // entity references decoded
    std::vector<std::unique_ptr<XmlNode>> children;
    std::string text;  // text nodes: decoded text

    // Concatenated text of this node and its descendants.
    std::string text_content() const;
    const XmlNode* find_id(const std::string& id) const;
    // Every descendant element (and this one) with the given name, in document order.
    void find_all(const std::string& element, std::vector<const XmlNode*>& out) const;
    std::vector<const XmlNode*> find_all(const std::string& element) const {
        std::vector<const XmlNode*> out;
        find_all(element, out);
        return out;
    }
    std::string attr(const std::string& key) const {
        const auto it = attributes.find(key);
        return it == attributes.end() ? "" : it->second;
    }
};

struct XmlDocument {
    bool ok = false;
    std::string error;  // "line N: ..." when not well-formed
    std::unique_ptr<XmlNode> root;
};

// Parses `text`: an optional XML declaration and <!DOCTYPE ...>, comments, exactly one root element,
// every tag closed in order, attribute values quoted and unique, only the five predefined entities
// and numeric character references, valid UTF-8 with no characters XML forbids.
XmlDocument parse_xml(const std::string& text);

// Reads and parses a file.
XmlDocument parse_xml_file(const std::string& path);

// Checks every href / src / xlink:href of the page at `page_path`: relative targets must exist (and a
// #fragment must name an element id in the target page), absolute URLs (http:, https:, //, file:)
// are errors. Returns the problems found, empty when all links resolve.
std::vector<std::string> broken_links(const std::string& page_path, const XmlNode& root);

}  // namespace circuits::test
