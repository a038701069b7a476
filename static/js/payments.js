/* Tally payments: the card form (Stripe Elements, confirmed with a SetupIntent) and
   "pay now" on an invoice (3-D Secure confirmed with Stripe.js). The card number goes
   from Stripe's field to Stripe, never to Tally. */
(function () {
  "use strict";

  function csrf(form) {
    var input = (form || document).querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, token) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Accept": "application/json" },
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.error || "The request failed."); }
        return body;
      });
    });
  }

  function show(box, message) {
    box.textContent = message;
    box.hidden = !message;
  }

  function cardForm(form) {
    var errors = document.getElementById("card-errors");
    var button = form.querySelector("button[type=submit]");
    var mounted = null;
    // The SetupIntent (and so the publishable key) comes first; then the element.
    post(form.dataset.setupUrl, csrf(form)).then(function (setup) {
      var stripe = Stripe(setup.publishable_key);
      var card = stripe.elements().create("card");
      card.mount("#card-element");
      mounted = { stripe: stripe, card: card, secret: setup.client_secret };
    }).catch(function (error) { show(errors, error.message); });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!mounted) { return; }
      button.disabled = true;
      show(errors, "");
      mounted.stripe.confirmCardSetup(mounted.secret, { payment_method: { card: mounted.card } })
        .then(function (result) {
          if (result.error) {
            show(errors, result.error.message || "The card was not accepted.");
            button.disabled = false;
            return;
          }
          form.elements.setup_intent.value = result.setupIntent.id;
          form.submit();
        });
    });
  }

  function payNow(button) {
    var box = document.getElementById("pay-errors");
    var token = csrf(button.form);
    button.addEventListener("click", function (event) {
      event.preventDefault();
      button.disabled = true;
      show(box, "");
      post(button.dataset.payUrl, token).then(function (pay) {
        if (!pay.client_secret) { return pay; }
        // The bank asks the customer to authenticate: Stripe.js shows its dialog.
        return Stripe(pay.publishable_key).confirmCardPayment(pay.client_secret)
          .then(function () { return post(button.dataset.refreshUrl, token); });
      }).then(function (pay) {
        window.location.assign(pay.invoice_url);
      }).catch(function (error) {
        show(box, error.message);
        button.disabled = false;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("card-form");
    if (form && typeof Stripe !== "undefined") { cardForm(form); }
    var pay = document.getElementById("pay-now");
    if (pay && typeof Stripe !== "undefined") { payNow(pay); }
  });
})();
