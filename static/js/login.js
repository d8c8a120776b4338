// Sign-in page: one submit only (a double click would post the form twice and rotate the CSRF token).
const loginForm = document.querySelector(".login-form");
if (loginForm) {
  loginForm.addEventListener("submit", () => {
    loginForm.querySelector("button[type=submit]").disabled = true;
  });
}
