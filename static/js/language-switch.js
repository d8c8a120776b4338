// Every page: changing the language select submits the set_language form at once.
document.querySelectorAll("form[data-language-switch] select").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});
