# ruff: noqa: E501, RUF001
"""Regenerate the support-bot example data: train.jsonl, test.jsonl and dev.jsonl.

Run from anywhere: ``python examples/support-bot/generate.py``. The script is deterministic
(fixed shuffle seed) and checks its own output before writing:

* every assistant message follows the house style (opens with "Hi there!", ends with the
  sign-off, at most three sentences or a numbered list of at most five steps),
* every menu path used in an answer exists in the knowledge base (``kb/``),
* every ``must_contain`` string is in its reference and, for kind "kb", in the cited article,
* no test/dev question repeats a training question.

The knowledge base articles in ``kb/`` are written by hand; this script only reads them.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KB_DIR = HERE / "kb"
SYSTEM = (HERE / "system_prompt.txt").read_text(encoding="utf-8").strip()

GREETING = "Hi there!"
SIGN_OFF = "— Lumen Support"
HANDOFF = "I'm handing this to a teammate who can help — you'll hear from us within one business day."
DECLINE = "I can only help with questions about Lumen, so I'll have to pass on this one."
OFFER = "Is there anything about your workspace, billing or account I can help with?"

KB_TEXT = {p.name: p.read_text(encoding="utf-8") for p in sorted(KB_DIR.glob("*.md"))}
ALL_KB = "\n".join(KB_TEXT.values())
USED_PATHS: set[str] = set()

Message = dict[str, str]


def path(*parts: str) -> str:
    """A menu path such as ``Settings -> Billing -> Invoices``; checked against the KB later."""
    text = " -> ".join(parts)
    USED_PATHS.add(text)
    return text


def say(*sentences: str) -> str:
    """A short answer: greeting, at most three sentences, sign-off."""
    assert 1 <= len(sentences) <= 3, sentences
    return f"{GREETING} {' '.join(sentences)}\n\n{SIGN_OFF}"


def steps(intro: str, *items: str) -> str:
    """An answer as a numbered list: greeting and one intro line, two to five steps, sign-off."""
    assert 2 <= len(items) <= 5, items
    body = "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))
    return f"{GREETING} {intro}\n{body}\n\n{SIGN_OFF}"


def handoff(reason: str) -> str:
    """The fixed hand-off to a person, after one sentence that acknowledges the request."""
    return say(reason, HANDOFF)


def decline(aside: str = "") -> str:
    """The fixed polite refusal for off-topic requests."""
    return say(*[s for s in (aside, DECLINE, OFFER) if s])


# Menu paths used in many answers.
PLAN = path("Settings", "Billing", "Plan")
INVOICES = path("Settings", "Billing", "Invoices")
PAYMENT = path("Settings", "Billing", "Payment methods")
DETAILS = path("Settings", "Billing", "Billing details")
MEMBERS = path("Settings", "Workspace", "Members")
SECURITY_WS = path("Settings", "Workspace", "Security")
GENERAL_WS = path("Settings", "Workspace", "General")
PROFILE = path("Settings", "Account", "Profile")
ACCOUNT_SECURITY = path("Settings", "Account", "Security")
TWO_FA = path("Settings", "Account", "Security", "Two-factor authentication")
SESSIONS = path("Settings", "Account", "Security", "Active sessions")
NOTIFICATIONS = path("Settings", "Account", "Notifications")
INTEGRATIONS = path("Settings", "Integrations")
SLACK = path("Settings", "Integrations", "Slack")
GITHUB = path("Settings", "Integrations", "GitHub")
DRIVE = path("Settings", "Integrations", "Google Drive")
TOKENS = path("Settings", "Account", "API tokens")
EXPORT = path("Settings", "Workspace", "Export")
IMPORT = path("Settings", "Workspace", "Import")
CLEAR_CACHE = path("Help", "Troubleshooting", "Clear cache and restart")

# --------------------------------------------------------------------------------------------
# Training data: single-turn intents. Each entry: several ways customers ask, one answer.
# Facts here are the common ones; the KB-only facts listed in README.md never appear.
# --------------------------------------------------------------------------------------------

INTENTS: list[tuple[tuple[str, ...], str]] = [
    # Billing
    (
        (
            "How much does Lumen cost?",
            "what are your prices",
            "Can you give me a quick overview of the paid plans and what they cost?",
        ),
        say(
            "Plus is $8 per user per month and Business is $15 per user per month, and the Free plan costs nothing.",
            "Enterprise is priced on a custom quote from sales@lumen.app.",
            f"You can compare and change plans at {PLAN}.",
        ),
    ),
    (
        ("We're 12 people. What would Business cost us each month?",),
        say(
            "Business for 12 members is $180 per month ($15 × 12), plus any tax that applies to your billing address.",
            f"Guests are free, so only members count, and you can see your current seat count at {PLAN}.",
        ),
    ),
    (
        ("Is it cheaper if we pay for a year up front?", "monthly vs yearly billing - is there any discount??"),
        say(
            "Yes, annual billing gives you two months free: Plus is $80 and Business is $150 per user per year.",
            f"Switch at {path('Settings', 'Billing', 'Plan', 'Change billing cycle')}.",
        ),
    ),
    (
        (
            "Where can I download our invoices?",
            "I need a PDF copy of last month's invoice for my bookkeeper",
            "how do i get an invoice",
        ),
        steps(
            "Here's how to download an invoice:",
            f"Open {INVOICES}.",
            "Find the invoice by date or number.",
            "Click Download PDF.",
        ),
    ),
    (
        (
            "Invoices keep going to my old email address. How do I change where they're sent?",
            "How can I update the billing email on our account?",
        ),
        say(
            f"You can change it at {path('Settings', 'Billing', 'Billing details', 'Billing email')}.",
            "Every invoice and receipt from then on goes to the new address.",
        ),
    ),
    (
        (
            "How do I get our company name and address printed on invoices?",
            "Our invoices need the legal entity name, not my name. Can I fix that?",
        ),
        say(
            f"Add your company name, postal address and tax ID at {DETAILS} and click Save.",
            "The details appear on every invoice created after you save them.",
        ),
    ),
    (
        ("Where do I enter our VAT number?", "Where does the EU VAT ID go in the billing settings?"),
        steps(
            "Here's where to add it:",
            f"Open {DETAILS}.",
            "Enter the number in the Tax ID field, including the country prefix (for example DE123456789).",
            "Click Save.",
        ),
    ),
    (
        (
            "My credit card expired, how do I update it?",
            "We got a new company card. How do I switch the card Lumen charges?",
            "change payment card",
        ),
        steps(
            "Here's how to switch cards:",
            f"Open {PAYMENT}.",
            "Click Add payment method and enter the new card.",
            "Click ••• next to the new card and choose Make default.",
        ),
    ),
    (
        (
            "We got an email saying our payment failed. What do I do?",
            "Lumen says my last charge was declined, how do I pay it?",
        ),
        steps(
            "Here's how to settle a failed payment:",
            f"Open {PAYMENT} and add a working card or PayPal account.",
            "Make it the default payment method.",
            f"Open {INVOICES}, find the unpaid invoice and click Retry payment.",
        ),
    ),
    (
        ("What payment methods do you accept?", "Can I pay with PayPal or Amex?"),
        say(
            "We accept Visa, Mastercard and American Express cards as well as PayPal.",
            f"Add or change a payment method at {PAYMENT}.",
        ),
    ),
    (
        (
            "How do I cancel our subscription?",
            "I'd like to stop paying for Lumen.",
            "cancel plan pls",
        ),
        steps(
            "Sorry to see you go! Here's how to cancel:",
            f"Open {PLAN}.",
            "Click Cancel plan.",
            "Confirm. Your paid features stay on until the end of the period you've paid for, then the workspace moves to Free.",
        ),
    ),
    (
        (
            "How do I upgrade from Free to Plus?",
            "We want to move up to the Business plan. How?",
        ),
        steps(
            "Here's how to upgrade:",
            f"Open {PLAN}.",
            "Click Change plan and choose Plus or Business.",
            "Pick monthly or annual billing and confirm the payment method.",
        ),
    ),
    (
        ("If we upgrade in the middle of the month, do we pay for the whole month?",),
        say(
            "No, upgrades take effect immediately and you're only charged a prorated amount for the rest of the current billing period.",
            f"You can upgrade at {PLAN}.",
        ),
    ),
    (
        (
            "Can we go from Business down to Plus?",
            "When does a downgrade take effect?",
        ),
        say(
            "Downgrades take effect at the end of your current billing period, so you keep your current plan's features until then.",
            f"To downgrade, choose Change plan at {PLAN}.",
        ),
    ),
    (
        (
            "I upgraded to Plus yesterday by mistake. Can I get my money back?",
            "Is there a money-back guarantee if we're not happy in the first week?",
        ),
        say(
            "Yes, a new subscription gets a full refund if you ask within 14 days of the first paid charge.",
            "Email billing@lumen.app from the billing contact's address with the invoice number, which starts with LUM-.",
        ),
    ),
    (
        ("What's your refund policy?",),
        say(
            "New subscriptions and annual renewals can be fully refunded within 14 days of the charge.",
            "After 14 days charges aren't refundable, and cancelling stops future charges only.",
            "To ask for a refund, email billing@lumen.app with the invoice number.",
        ),
    ),
    (
        (
            "Do you have a free trial?",
            "Can I test the Business features before paying?",
        ),
        say(
            "Yes, every new workspace can try Business free for 14 days, and no card is needed.",
            f"Start it at {path('Settings', 'Billing', 'Plan', 'Start free trial')}.",
        ),
    ),
    (
        ("What happens when the Business trial ends?",),
        say(
            "The workspace goes back to the Free plan unless you add a payment method and choose a plan.",
            f"Everything you created during the trial is kept, and you can subscribe at {PLAN} at any time.",
        ),
    ),
    (
        (
            "Do guests count as paid seats?",
            "If I invite a freelancer to one page, do we pay for them?",
        ),
        say(
            "No, guests are free and don't take a paid seat.",
            "Only owners, admins and members count as seats.",
        ),
    ),
    (
        ("How many seats are we paying for right now?",),
        say(
            f"You can see the number of paid seats, your billing cycle and the next billing date at {PLAN}.",
            "Every owner, admin and member counts as one seat.",
        ),
    ),
    (
        ("How much is the Enterprise plan?", "Do you publish Enterprise prices?"),
        say(
            "Enterprise is priced individually, based on your needs.",
            "Our sales team at sales@lumen.app will put together a quote for you.",
        ),
    ),
    (
        (
            "I can't find the billing page in settings.",
            "Why don't I see Billing under Settings?",
        ),
        say(
            "Only the workspace owner and admins can see Settings -> Billing.",
            f"Ask your owner or an admin for help; you can see who they are at {MEMBERS}.",
        ),
    ),
    # Accounts
    (
        (
            "I forgot my password.",
            "how do I reset my password",
            "Can't log in, I don't remember my password",
        ),
        steps(
            "Here's how to reset it:",
            "Go to lumen.app/login and click Forgot password?.",
            "Enter your account email and click Send reset link.",
            "Open the email from Lumen, click Reset password and choose a new one.",
        ),
    ),
    (
        ("How do I change my password? I know the current one.",),
        say(
            f"Open {path('Settings', 'Account', 'Security', 'Password')}, enter your current and new password, and click Update password.",
        ),
    ),
    (
        (
            "How do I turn on two-factor authentication?",
            "I want to secure my account with 2FA.",
            "set up 2fa",
        ),
        steps(
            "Here's how to turn on 2FA:",
            f"Open {TWO_FA}.",
            "Click Enable and scan the QR code with an authenticator app, or register a security key.",
            "Enter the 6-digit code to confirm.",
            "Save your backup codes somewhere safe.",
        ),
    ),
    (
        ("Can Lumen send my 2FA codes by SMS?", "Is text message 2FA an option?"),
        say(
            "SMS codes aren't supported, because text messages can be intercepted.",
            f"Use an authenticator app or a security key instead, at {TWO_FA}.",
        ),
    ),
    (
        (
            "I got a new phone and my authenticator app is gone, but I still have my backup codes.",
            "How do I log in with a 2FA backup code?",
        ),
        steps(
            "Here's how to get back in:",
            "Sign in with your email and password.",
            "On the 2FA screen, click Use a backup code and enter one of your saved codes.",
            f"Set up 2FA on your new phone at {TWO_FA}.",
        ),
    ),
    (
        (
            "How can I change the email address on my account?",
            "I'm switching to a new work email, how do I update it in Lumen?",
        ),
        steps(
            "Here's how to change your email:",
            f"Open {path('Settings', 'Account', 'Profile', 'Email')}.",
            "Enter the new address and your current password.",
            "Click Confirm in the email we send to the new address.",
        ),
    ),
    (
        ("How do I change my display name?", "Where can I upload a profile photo?"),
        say(f"Open {PROFILE}, edit your name or click the photo to upload a new one, and click Save."),
    ),
    (
        (
            "How do I add a colleague to our workspace?",
            "invite new team member",
        ),
        say(
            f"Open {MEMBERS} and click Invite members.",
            "Each member takes a paid seat on paid plans, and the Free plan allows up to 5 members.",
        ),
    ),
    (
        (
            "How do I make someone an admin?",
            "Can I change a member's role?",
        ),
        steps(
            "Here's how to change a role:",
            f"Open {MEMBERS}.",
            "Click the role next to the person's name.",
            "Choose the new role.",
        ),
    ),
    (
        (
            "Someone left the company. How do I remove them from the workspace?",
            "How can I kick a user out of our workspace?",
        ),
        say(
            f"Open {MEMBERS}, click ••• next to the person and choose Remove from workspace.",
            "Pages they created stay in the workspace.",
        ),
    ),
    (
        (
            "I'm leaving my job. How do I hand the workspace over to my colleague?",
            "How do I transfer ownership of a workspace?",
        ),
        steps(
            "Here's how to transfer ownership (the new owner must already be an admin):",
            f"Open {MEMBERS}.",
            "Click ••• next to the admin who will become the owner.",
            "Choose Make owner and type the workspace name to confirm.",
        ),
    ),
    (
        (
            "Do you support SSO with Okta?",
            "Which plans include SAML single sign-on?",
        ),
        say(
            "SAML single sign-on is included in the Business and Enterprise plans and works with Okta, Microsoft Entra ID, Google Workspace, OneLogin and any SAML 2.0 provider.",
            f"Set it up at {path('Settings', 'Workspace', 'Security', 'SAML SSO')}.",
        ),
    ),
    (
        (
            "How do I delete my Lumen account?",
            "Please tell me how to close my account for good.",
        ),
        steps(
            "Here's how to delete your account (if you own a workspace, transfer ownership or delete it first):",
            f"Open {path('Settings', 'Account', 'Delete account')}.",
            "Type your email address to confirm.",
            "Enter the code we email you and click Delete permanently.",
        ),
    ),
    (
        ("How do I leave a workspace without deleting my account?",),
        say(
            f"Open {path('Settings', 'Workspace', 'Leave workspace')} and confirm; your account and other workspaces stay as they are."
        ),
    ),
    (
        (
            "I lost my laptop. How do I log out of Lumen on it?",
            "How can I sign out of every device at once?",
        ),
        say(
            f"Open {SESSIONS} and click Sign out of all other sessions.",
            "Then change your password to be safe.",
        ),
    ),
    (
        (
            "Can I force everyone in my workspace to use 2FA?",
            "How do admins require two-factor for the whole team?",
        ),
        say(
            f"On Business and Enterprise, an owner or admin can turn it on at {path('Settings', 'Workspace', 'Security', 'Require two-factor authentication')}.",
            "Members without 2FA are asked to set it up the next time they sign in.",
        ),
    ),
    # Troubleshooting
    (
        (
            "My changes aren't syncing.",
            "Lumen says 'Changes not saved'. Help!",
            "edits from my laptop don't show up for my teammates",
        ),
        steps(
            "Let's get sync working again:",
            "Check status.lumen.app for an ongoing incident.",
            "Reload the page, or quit and reopen the app.",
            f"In the desktop app, use {CLEAR_CACHE}; unsynced changes are uploaded first.",
            "Sign out and sign in again.",
        ),
    ),
    (
        (
            "How do I use Lumen without internet on a plane?",
            "Can I make a page available offline?",
        ),
        steps(
            "Here's how to keep a page offline (desktop and mobile apps):",
            "Open the page in the desktop or mobile app.",
            "Click ••• -> Make available offline.",
            "Wait until the cloud icon next to the title shows a check mark.",
        ),
    ),
    (
        ("Is there a desktop app?", "Where do I download Lumen for Windows?"),
        say(
            "Lumen has free desktop apps for macOS, Windows and Linux.",
            "Download them at lumen.app/download.",
        ),
    ),
    (
        ("Lumen is really slow in my browser.", "pages take forever to load"),
        steps(
            "A few things usually help:",
            "Close Lumen tabs you don't need.",
            "Try a private window; if Lumen is fast there, disable browser extensions one by one.",
            "Clear the site data for lumen.app in your browser settings.",
            "Check status.lumen.app for degraded performance.",
        ),
    ),
    (
        (
            "I'm not getting any email notifications.",
            "Why don't I receive emails when someone mentions me?",
        ),
        say(
            "First check your spam folder.",
            f"Then make sure Email isn't set to Nothing at {NOTIFICATIONS}.",
        ),
    ),
    (
        ("How do I turn off push notifications on my phone?", "Too many notifications on mobile, how to stop them?"),
        say(
            f"Open {path('Settings', 'Account', 'Notifications', 'Mobile')} and choose Mentions and replies or Nothing."
        ),
    ),
    (
        (
            "My upload fails with 'File too large'.",
            "Why can't I attach this video to a page?",
        ),
        say(
            "Each plan has a maximum size per file, so this file is over your plan's limit.",
            "You can compress or split it, or link it from Google Drive, where files don't use your Lumen storage.",
            f"You can check your storage use at {path('Settings', 'Workspace', 'General', 'Storage')}.",
        ),
    ),
    (
        ("Is Lumen down?", "Is there an outage right now?"),
        say(
            "You can check the live status of every Lumen service at status.lumen.app.",
            "Click Subscribe to updates there to hear about incidents by email, SMS or Slack.",
        ),
    ),
    (
        (
            "I deleted a page by accident. Can I get it back?",
            "How do I restore a page from the trash?",
        ),
        say(
            "Deleted pages stay in Sidebar -> Trash for 30 days.",
            "Open the Trash, find the page and click Restore.",
        ),
    ),
    (
        (
            "Someone overwrote a section of our handbook. Can I go back to yesterday's version?",
            "How do I see older versions of a page?",
        ),
        say("Open the page and click ••• -> Page history, then pick the version you want and click Restore."),
    ),
    # Integrations
    (
        (
            "How do I connect Slack?",
            "Can Lumen post to our Slack?",
        ),
        steps(
            "Here's how to connect Slack:",
            f"Open {SLACK}.",
            "Click Connect and choose your Slack workspace.",
            "Approve the permissions.",
        ),
    ),
    (
        ("Can I search Lumen from inside Slack?",),
        say(
            "Yes, once Slack is connected, type /lumen search followed by your search words.",
            f"Connect Slack at {SLACK}.",
        ),
    ),
    (
        (
            "Can I use the GitHub integration on the Free plan?",
            "Which plans have GitHub integration?",
        ),
        say(
            "The GitHub integration needs the Plus plan or higher.",
            f"After upgrading at {PLAN}, connect it at {GITHUB}.",
        ),
    ),
    (
        ("How do I link GitHub pull requests in Lumen?",),
        steps(
            "Here's how to connect GitHub:",
            f"Open {GITHUB}.",
            "Click Connect and install the Lumen GitHub App on your organisation.",
            "Choose all repositories or only selected ones, then paste pull request links into any page.",
        ),
    ),
    (
        (
            "How do I embed a Google Sheet in a page?",
            "Can Lumen show Google Docs inline?",
        ),
        say(
            f"First connect Google Drive at {DRIVE}.",
            "Then paste the Drive link into a page and choose Embed, or type /drive and pick the file.",
        ),
    ),
    (
        (
            "Do you have an API?",
            "How do I get an API key?",
        ),
        steps(
            "Lumen has a REST API at https://api.lumen.app/v1, and here's how to get a token:",
            f"Open {TOKENS}.",
            "Click Create token, name it and choose read-only or read-write.",
            "Copy the token right away, because it's shown only once.",
        ),
    ),
    (
        (
            "How do we move our docs over from Notion?",
            "Can I import Confluence spaces?",
        ),
        steps(
            "Here's how to import:",
            "Export from the other tool (Notion: Markdown & CSV; Confluence: HTML).",
            f"Open {IMPORT}.",
            "Choose the source, upload the ZIP file and pick where the pages go.",
        ),
    ),
    (
        ("How do I disconnect an integration?",),
        say(
            f"Open {INTEGRATIONS}, click the integration and choose Disconnect.",
            "Existing links in pages turn into plain links, and no page content is deleted.",
        ),
    ),
    # Policies and security
    (
        ("How do I contact support?", "What's your support email?"),
        say(
            "You can email support@lumen.app from the address of your Lumen account.",
            "I'm also happy to help right here.",
        ),
    ),
    (
        (
            "How do I export our whole workspace?",
            "I want a backup of all our pages.",
        ),
        steps(
            "Here's how to export the workspace (owners and admins only):",
            f"Open {EXPORT}.",
            "Choose the format and whether to include files.",
            "Click Export, and we'll email you a download link when it's ready.",
        ),
    ),
    (
        ("How do I export just one page?",),
        say("Open the page, click ••• -> Export, choose the format and whether to include subpages."),
    ),
    (
        (
            "How do I delete our workspace?",
            "We're shutting down the team. How do we remove the workspace?",
        ),
        steps(
            "Here's how to delete it (owner only):",
            f"Open {GENERAL_WS}.",
            "Click Delete workspace.",
            "Type the workspace name to confirm.",
        ),
    ),
    (
        ("Can a deleted workspace be brought back?",),
        say(
            "Yes, for 30 days after deletion the owner can restore it from the link in the confirmation email.",
            "After 30 days the deletion is permanent.",
        ),
    ),
    (
        ("Are you SOC 2 compliant?", "Does Lumen have any security certifications?"),
        say("Yes, Lumen Labs has a SOC 2 Type II report and is certified to ISO/IEC 27001, both audited every year."),
    ),
    (
        (
            "Where can we sign a DPA?",
            "Our legal team needs a data processing agreement for GDPR.",
        ),
        say(
            f"On Plus, Business and Enterprise, sign it at {path('Settings', 'Workspace', 'Legal', 'Data processing agreement')}.",
            "Enter your company's legal name and the signer's details, and a countersigned PDF is emailed to the signer.",
        ),
    ),
    (
        (
            "Where is our data stored?",
            "Can we keep our data in Europe?",
        ),
        say(
            "Each workspace is stored in either the EU or the US region, chosen when the workspace is created.",
            f"You can see yours at {path('Settings', 'Workspace', 'General', 'Data region')}.",
        ),
    ),
    (
        ("Is there an audit log?", "Can admins see who exported the workspace?"),
        say(
            f"Yes, on Business and Enterprise owners and admins can open {path('Settings', 'Workspace', 'Security', 'Audit log')}.",
            "It records sign-ins, member changes, exports and more.",
        ),
    ),
    (
        ("I have a feature request.", "Can you add a dark mode for printing?"),
        say(
            "Thanks, we'd love to hear it!",
            "Post it at lumen.app/feedback, where you can also vote on existing ideas, and the product team reads every request.",
        ),
    ),
    # General
    (
        ("What is Lumen?", "what does your product do"),
        say(
            "Lumen is a team note-taking and docs app made by Lumen Labs.",
            "Teams use it to write, organise and share pages together on the web, desktop and mobile.",
        ),
    ),
    (
        ("hello", "Hi, anyone there?"),
        say(
            "I'm Lumen's support assistant.",
            "Ask me anything about billing, your account, integrations or troubleshooting.",
        ),
    ),
    (
        ("Thanks, that worked!", "great, thank you"),
        say("You're welcome, glad that's sorted!", "Just message us if anything else comes up."),
    ),
    (
        ("Is there a Lumen app for iPhone?", "Do you have an Android app?"),
        say(
            "Yes, Lumen has free apps for iPhone, iPad and Android in the App Store and Google Play.",
            "They use the same account as the web and desktop apps.",
        ),
    ),
]

OFF_TOPIC: list[tuple[str, str]] = [
    ("What's the weather going to be like in Berlin tomorrow?", ""),
    ("Can you fix this Python error: TypeError: 'NoneType' object is not subscriptable", ""),
    ("Give me a good recipe for banana bread.", ""),
    ("What's the capital of Australia?", ""),
    ("Should I buy Nvidia stock?", ""),
    ("Translate 'good morning' into Japanese please.", ""),
    ("Write a cover letter for a product manager job.", ""),
    ("Tell me a joke.", "I'd love to make you smile, but"),
    ("Who won the football match last night?", ""),
    ("Solve 3x + 7 = 22 for my homework", ""),
    ("Where should I go on holiday in March?", ""),
    ("What do you think about the upcoming election?", ""),
]

HANDOFFS: list[tuple[str, str]] = [
    (
        "I was charged for our monthly renewal two months ago and we never used Lumen since. I want that money back.",
        "Refunds outside our 14-day window are reviewed by our billing team.",
    ),
    (
        "Our annual plan renewed six weeks ago. We forgot to cancel, please refund the whole year.",
        "Requests outside the refund policy are decided by a person on our billing team.",
    ),
    (
        "If you don't restore my pages today I'm suing Lumen Labs.",
        "I'm sorry you're dealing with this, and legal matters are handled by our team directly.",
    ),
    (
        "This is Officer Daniels from the county police. We need the account data of one of your users.",
        "Requests from law enforcement are handled by our legal team.",
    ),
    (
        "My ex-cofounder says the workspace belongs to his new company and he removed me as owner. It's mine!",
        "I'm sorry this happened, and questions about who owns a workspace are handled by a person.",
    ),
    (
        "I lost my phone with the authenticator app and I never saved the backup codes. How do I get in?",
        "Account recovery needs an identity check by our support team.",
    ),
    (
        "I want to talk to a human, please.",
        "Of course.",
    ),
    (
        "Refund me now or I'll file a chargeback with my bank.",
        "I understand you'd like your money back.",
    ),
    (
        "The agent who answered my last ticket was rude and closed it without fixing anything.",
        "I'm sorry about that experience.",
    ),
    (
        "We cancelled in March but we're paid until December. Refund the unused months please.",
        "Refunds outside our 14-day window are reviewed by our billing team.",
    ),
    (
        "Someone is posting spam pages from my account and I didn't do it!",
        "A possibly compromised account needs a careful look from our team.",
    ),
    (
        "Lumen was down for half a day last week. I want compensation for our lost work.",
        "I'm sorry about the disruption, and compensation requests are handled by a person.",
    ),
]

# Multi-turn conversations: a list of (user, assistant) pairs.
MULTI_TURN: list[list[tuple[str, str]]] = [
    [
        (
            "I want to cancel our Plus plan.",
            say(
                f"Sorry to see you go! You can cancel at {path('Settings', 'Billing', 'Plan', 'Cancel plan')}, and your paid features stay on until the end of the period you've paid for."
            ),
        ),
        (
            "Will we lose our pages?",
            say("No, your pages and files are kept when the workspace moves to the Free plan."),
        ),
    ],
    [
        ("Where are my invoices?", say(f"You can download every invoice as a PDF at {INVOICES}.")),
        (
            "Our accountant says the VAT ID is missing on them.",
            say(f"Add it in the Tax ID field at {DETAILS}, including the country prefix, and click Save."),
        ),
    ],
    [
        (
            "I requested a password reset but no email came.",
            say(
                "Check your spam or junk folder and search for mail from no-reply@lumen.app.",
                "Also make sure you typed the address your Lumen account uses.",
            ),
        ),
        (
            "Found it in spam, thanks!",
            say(
                "Great, glad you found it!",
                "Add no-reply@lumen.app to your contacts so future emails land in your inbox.",
            ),
        ),
    ],
    [
        (
            "I'm turning on 2FA. Which apps work with it?",
            say(
                "Any authenticator app that makes time-based codes works, such as 1Password, Google Authenticator or Authy.",
                f"You can also register a security key or passkey at {TWO_FA}.",
            ),
        ),
        (
            "Can I add both?",
            say(
                f"Yes, and we recommend it: register an authenticator app and a security key at {TWO_FA}, and keep your backup codes in a password manager."
            ),
        ),
    ],
    [
        (
            "I'm trying to connect Slack but it says the app needs approval.",
            say(
                "Your Slack workspace only allows approved apps, so a Slack admin has received a request to approve Lumen.",
                f"Once they approve it, click Connect again at {SLACK}.",
            ),
        ),
        (
            "I am the Slack admin, where do I approve it?",
            say(
                "Approve Lumen in Slack's app management settings for your Slack workspace.",
                f"Then finish the connection at {SLACK}.",
            ),
        ),
    ],
    [
        ("Can you write me a poem about Mondays?", decline()),
        (
            "Fine. How do I add a teammate then?",
            say(f"Open {MEMBERS} and click Invite members.", "On paid plans each member takes a paid seat."),
        ),
    ],
    [
        (
            "We signed up for Business 5 days ago but it's too expensive. Refund?",
            say(
                "Yes, a new subscription gets a full refund if you ask within 14 days of the first paid charge.",
                "Email billing@lumen.app from the billing contact's address with the invoice number.",
            ),
        ),
        (
            "And can we keep using Lumen for free after that?",
            say(
                f"Yes, cancel at {path('Settings', 'Billing', 'Plan', 'Cancel plan')} and the workspace moves to the Free plan with your pages kept."
            ),
        ),
    ],
    [
        (
            "Can I get a refund for the last 3 months? Nobody used the workspace.",
            handoff("Refunds outside our 14-day window are reviewed by our billing team."),
        ),
        (
            "ok thanks",
            say("You're welcome!", "Our billing team has your conversation, so there's no need to repeat anything."),
        ),
    ],
    [
        (
            "Pages in the desktop app aren't syncing.",
            steps(
                "Let's get sync working again:",
                "Check status.lumen.app for an ongoing incident.",
                f"Use {CLEAR_CACHE}; unsynced changes are uploaded first.",
                "Sign out and sign in again.",
            ),
        ),
        (
            "Did all that, still broken.",
            say(
                "Please email support@lumen.app with the page link and the time the problem started, and a teammate will dig into it."
            ),
        ),
    ],
    [
        (
            "How do I delete our old test workspace?",
            steps(
                "Here's how to delete it (owner only):",
                f"Open {GENERAL_WS}.",
                "Click Delete workspace.",
                "Type the workspace name to confirm.",
            ),
        ),
        (
            "What if we change our minds?",
            say(
                "For 30 days after deletion, the owner can restore the workspace from the link in the confirmation email."
            ),
        ),
    ],
    [
        (
            "We just upgraded to Business.",
            say("Welcome to Business, and thanks for upgrading!", "All Business features are available right away."),
        ),
        (
            "Great, where do we set up SSO?",
            say(
                f"Open {path('Settings', 'Workspace', 'Security', 'SAML SSO')} and follow the steps to connect your identity provider."
            ),
        ),
    ],
    [
        (
            "I can't invite a sixth person to our workspace.",
            say("The Free plan allows up to 5 members.", f"To add more, upgrade to Plus or Business at {PLAN}."),
        ),
        (
            "Can they join as guests instead?",
            say(
                "Yes, you can invite them as guests to specific pages, and guests don't count as members.",
                "Use the Share menu on the page to invite them.",
            ),
        ),
    ],
    [
        (
            "How do I connect GitHub?",
            say(f"Open {GITHUB}, click Connect and install the Lumen GitHub App on your organisation."),
        ),
        (
            "It says my plan doesn't include it.",
            say(f"The GitHub integration needs the Plus plan or higher, so upgrade at {PLAN} first."),
        ),
    ],
    [
        (
            "I'm exporting our workspace.",
            say("Great, you'll get an email with the download link when the export is ready."),
        ),
        (
            "Will the export include our uploaded images?",
            say(
                "Yes, uploaded files are included in their original format if you choose to include files.",
                "Google Drive embeds are exported as links.",
            ),
        ),
    ],
    [
        (
            "How do I change my billing email?",
            say(f"Change it at {path('Settings', 'Billing', 'Billing details', 'Billing email')}."),
        ),
        ("That didn't answer my real problem. Can I talk to someone on your team?", handoff("Of course.")),
    ],
]


def conversation(turns: list[tuple[str, str]]) -> dict[str, Any]:
    messages: list[Message] = [{"role": "system", "content": SYSTEM}]
    for user, assistant in turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


def build_train() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for questions, answer in INTENTS:
        rows += [conversation([(q, answer)]) for q in questions]
    rows += [conversation([(q, decline(aside))]) for q, aside in OFF_TOPIC]
    rows += [conversation([(q, handoff(reason))]) for q, reason in HANDOFFS]
    rows += [conversation(turns) for turns in MULTI_TURN]
    random.Random(10).shuffle(rows)
    return rows


# --------------------------------------------------------------------------------------------
# Evaluation cases. Each: (kind, question or prior turns, reference, source, must_contain).
# kb: answerable only from the cited article (its key facts never appear in train.jsonl).
# style: common facts; scored on the house style and the exact menu path.
# handoff: must hand off with the fixed phrase. general: off-topic declines and product basics.
# --------------------------------------------------------------------------------------------

Case = tuple[str, str | list[tuple[str, str]], str, str, list[str]]

STYLE_MUST = [GREETING, SIGN_OFF]

TEST_CASES: list[Case] = [
    # kb
    (
        "kb",
        "How long does the password reset link stay valid?",
        say(
            "The reset link works for 60 minutes and can be used once.",
            "If it has expired, click Forgot password? on lumen.app/login to get a new one.",
        ),
        "accounts-password-reset.md",
        ["60 minutes"],
    ),
    (
        "kb",
        "What's the minimum password length?",
        say(
            "Passwords must be at least 10 characters long.",
            "Lumen also rejects passwords that appear in known data breaches.",
        ),
        "accounts-password-reset.md",
        ["10 characters"],
    ),
    (
        "kb",
        "When I switch on 2FA, how many recovery codes will I get?",
        say(
            "You get 10 backup codes, and each one works once.",
            f"You can make a new set at {path('Settings', 'Account', 'Security', 'Two-factor authentication', 'Regenerate backup codes')}.",
        ),
        "accounts-two-factor-authentication.md",
        ["10 backup codes"],
    ),
    (
        "kb",
        "I updated my email on Monday but only saw the confirmation mail today, Thursday. Will the link still work?",
        say(
            "No, the confirmation link is valid for 24 hours, so it has expired.",
            f"Enter the new address again at {path('Settings', 'Account', 'Profile', 'Email')} to get a fresh link; until then you keep signing in with the old address.",
        ),
        "accounts-change-email-and-name.md",
        ["24 hours"],
    ),
    (
        "kb",
        "How many outside collaborators can we bring in as guests on Plus?",
        say(
            "The Plus plan includes up to 100 guests, and guests don't take a paid seat.",
            "Business allows 250 and Enterprise has no limit.",
        ),
        "billing-plans-and-pricing.md",
        ["100 guests"],
    ),
    (
        "kb",
        "Setting up SSO with Okta: how does Lumen check that we own our email domain?",
        say(
            f"You add the DNS TXT record shown at {path('Settings', 'Workspace', 'Security', 'SAML SSO')} to your domain and click Verify.",
            "DNS changes can take up to 24 hours to be visible.",
        ),
        "accounts-sso-saml.md",
        ["TXT record"],
    ),
    (
        "kb",
        "With SCIM on, how quickly does someone we unassign in Entra ID lose access to Lumen?",
        say(
            "Lumen removes unassigned or suspended users from the workspace within 40 minutes and frees their seat.",
            "Content they created stays in the workspace.",
        ),
        "accounts-scim-provisioning.md",
        ["40 minutes"],
    ),
    (
        "kb",
        "If I never log out, how long does Lumen keep me signed in on a device I stop using?",
        say("Sessions expire after 30 days without activity.", f"You can end any session sooner at {SESSIONS}."),
        "accounts-sessions-and-devices.md",
        ["30 days without activity"],
    ),
    (
        "kb",
        "Our card keeps getting declined. At what point does the workspace stop letting us edit?",
        say(
            "We retry the charge on day 3, day 5 and day 7, and if the invoice is still unpaid 14 days after the first failure the workspace becomes read-only.",
            f"Add a working card at {PAYMENT} and click Retry payment at {INVOICES} to avoid that.",
        ),
        "billing-failed-payments.md",
        ["read-only", "day 3"],
    ),
    (
        "kb",
        "Our procurement team wants to pay by wire. Is that possible?",
        say(
            "Yes, bank transfer is available for annual subscriptions of $3,000 or more and for all Enterprise contracts.",
            "Bank transfer invoices are due within 30 days.",
        ),
        "billing-payment-methods.md",
        ["$3,000"],
    ),
    (
        "kb",
        "We only just added our VAT number. Can you refund the VAT we paid on last quarter's invoices?",
        say(
            "I'm sorry, VAT IDs are not applied retroactively, so VAT on past invoices isn't refunded and those invoices aren't reissued.",
            "Your VAT ID applies from the next invoice onwards.",
        ),
        "billing-vat-and-tax.md",
        ["retroactively"],
    ),
    (
        "kb",
        "Can a copy of every invoice go to our accounts payable mailbox as well as to me?",
        say(
            f"Yes, you can add up to 3 additional invoice recipients at {path('Settings', 'Billing', 'Billing details', 'Billing email')}.",
            "They receive every invoice and receipt from then on.",
        ),
        "billing-invoices-and-receipts.md",
        ["3 additional"],
    ),
    (
        "kb",
        "Our finance department needs our purchase order reference shown on each Lumen invoice.",
        say(
            f"Add it at {path('Settings', 'Billing', 'Billing details', 'PO number')}.",
            "It is printed on every invoice created after you save it.",
        ),
        "billing-invoices-and-receipts.md",
        ["PO number"],
    ),
    (
        "kb",
        "My refund was approved. When will it show up on my card?",
        say(
            "Refunds go back to the original payment method and usually appear within 5 to 10 business days, depending on your bank."
        ),
        "billing-refund-policy.md",
        ["5 to 10 business days"],
    ),
    (
        "kb",
        "We're a registered charity. Do you offer any reduced pricing?",
        say(
            "Yes, registered nonprofits, schools and universities get 50% off Plus and Business.",
            "Apply at lumen.app/nonprofit with proof of status, and the billing team reviews it within 5 business days.",
        ),
        "billing-discounts-and-trials.md",
        ["50%", "lumen.app/nonprofit"],
    ),
    (
        "kb",
        "Is there a minimum number of users for Enterprise?",
        say(
            "Yes, Enterprise is sold on annual contracts with a minimum of 50 seats.",
            "Contact sales@lumen.app for a quote.",
        ),
        "billing-plans-and-pricing.md",
        ["50 seats"],
    ),
    (
        "kb",
        "What's the largest single file our Business workspace can upload?",
        say(
            "On Business the limit is 250 MB per file, with 1 TB of storage per workspace.",
            "For bigger files, link them from Google Drive.",
        ),
        "troubleshooting-uploads-and-files.md",
        ["250 MB"],
    ),
    (
        "kb",
        "On the free plan, is there a cap on how many pages I can keep for offline use?",
        say(
            "Yes, the Free plan allows up to 20 pages available offline per device.",
            "Plus, Business and Enterprise have no limit.",
        ),
        "troubleshooting-offline-mode.md",
        ["20 pages"],
    ),
    (
        "kb",
        "Lumen loads at the office but never syncs. IT asks what to open in the firewall.",
        say(
            "Lumen needs HTTPS access to *.lumen.app and a WebSocket connection on port 443.",
            "Ask IT to allow both and to exclude *.lumen.app from TLS inspection.",
        ),
        "troubleshooting-sync-issues.md",
        ["port 443", "WebSocket"],
    ),
    (
        "kb",
        "My old Android phone can't find Lumen in the Play Store. What version is needed?",
        say("The Lumen Android app needs Android 10 or later.", "iPhone and iPad need iOS and iPadOS 16 or later."),
        "troubleshooting-mobile-apps.md",
        ["Android 10"],
    ),
    (
        "kb",
        "Our script hits the Lumen API hard and started failing. What limit applies on Business, and how do we know when to retry?",
        say(
            "On Business each token can make 300 requests per minute.",
            "Over the limit the API returns HTTP 429 with a Retry-After header that tells you how many seconds to wait.",
        ),
        "integrations-api-and-rate-limits.md",
        ["300", "429", "Retry-After"],
    ),
    (
        "kb",
        "At what times is your live chat staffed?",
        say(
            "Email and live chat are staffed Monday to Friday, 07:00-19:00 UTC, except Irish public holidays.",
            "Live chat is available on the Business and Enterprise plans.",
        ),
        "policies-support-hours-and-sla.md",
        ["07:00-19:00 UTC"],
    ),
    (
        "kb",
        "We're on Enterprise and availability last month was 99.5%. Do we get anything back?",
        say(
            "Yes, availability below 99.9% earns a 10% service credit on that month's share of your fee.",
            "Claim it by emailing support@lumen.app within 30 days after the end of the month.",
        ),
        "policies-uptime-sla.md",
        ["10%", "within 30 days"],
    ),
    (
        "kb",
        "Our security reviewer wants your SOC 2 report. How do we get a copy?",
        say(
            "Business and Enterprise customers can download the SOC 2 Type II report from trust.lumen.app after accepting an NDA online.",
            "The owner or an admin requests access with their Lumen account.",
        ),
        "security-compliance-certifications.md",
        ["trust.lumen.app", "NDA"],
    ),
    (
        "kb",
        "Our workspace was created in the US region. Can it be moved to the EU now?",
        say(
            "Moving an existing workspace is available on the Enterprise plan only, at most once every 12 months, during a maintenance window of up to 4 hours.",
            "On other plans, create a new workspace in the EU, then export and import your content.",
        ),
        "security-data-residency.md",
        ["Enterprise plan", "12 months"],
    ),
    (
        "kb",
        "How far back does the audit log go on our Business plan?",
        say(
            "On Business the audit log keeps events for 180 days; Enterprise keeps them for 2 years.",
            f"You can export events as CSV at {path('Settings', 'Workspace', 'Security', 'Audit log')}.",
        ),
        "security-audit-log.md",
        ["180 days"],
    ),
    (
        "kb",
        "On Plus, how old a version of a page can I restore?",
        say("On Plus, page history goes back 90 days.", "Open ••• -> Page history on the page to restore a version."),
        "policies-data-retention-and-workspace-deletion.md",
        ["90 days"],
    ),
    (
        "kb",
        "I got the workspace export email but I'm on holiday. How long will the download link keep working?",
        say("The download link is valid for 7 days.", f"If it expires, start a new export at {EXPORT}."),
        "policies-data-export.md",
        ["7 days"],
    ),
    # style
    (
        "style",
        "Where do I switch my email notifications to a daily digest?",
        say(f"Open {NOTIFICATIONS} and choose Daily digest under Email."),
        "",
        [*STYLE_MUST, NOTIFICATIONS],
    ),
    (
        "style",
        "How can I see how much storage our workspace is using?",
        say(
            f"Open {path('Settings', 'Workspace', 'General', 'Storage')} to see the total and which pages hold the largest files."
        ),
        "",
        [*STYLE_MUST, "Settings -> Workspace -> General -> Storage"],
    ),
    (
        "style",
        "Is there a list of the devices where my account is logged in?",
        say(f"Yes, open {SESSIONS} to see every device, browser and app with its last activity."),
        "",
        [*STYLE_MUST, SESSIONS],
    ),
    (
        "style",
        "I'd rather get my Lumen mentions in Slack than in my inbox.",
        steps(
            "Here's how to set that up:",
            f"Connect Slack at {SLACK}.",
            f"Open {NOTIFICATIONS}.",
            "Turn on Send my notifications to Slack.",
        ),
        "",
        [*STYLE_MUST, NOTIFICATIONS],
    ),
    (
        "style",
        "I used up most of my 2FA backup codes. Can I get fresh ones?",
        say(
            f"Yes, open {path('Settings', 'Account', 'Security', 'Two-factor authentication', 'Regenerate backup codes')}.",
            "The old set stops working as soon as the new one is created.",
        ),
        "",
        [*STYLE_MUST, "Regenerate backup codes"],
    ),
    (
        "style",
        "I cancelled last week but the team wants to stay on Plus after all. What now?",
        say(
            f"Click Resume plan at {PLAN} before the paid period ends.",
            "Nothing is charged until your next billing date.",
        ),
        "",
        [*STYLE_MUST, PLAN],
    ),
    (
        "style",
        "When is our next charge?",
        say(f"Your next billing date is shown at {PLAN}, together with your plan, seat count and billing cycle."),
        "",
        [*STYLE_MUST, PLAN],
    ),
    (
        "style",
        "How do I remove the old company Visa from our billing settings?",
        steps(
            "Here's how to remove it:",
            f"Open {PAYMENT}.",
            "Make sure another method is set as default.",
            "Click ••• next to the old card and remove it.",
        ),
        "",
        [*STYLE_MUST, PAYMENT],
    ),
    (
        "style",
        "How do I stop 2FA? I don't want it anymore.",
        say(
            f"Open {TWO_FA} and click Disable, then enter a current code or a backup code.",
            "If your workspace requires 2FA, you can't turn it off.",
        ),
        "",
        [*STYLE_MUST, TWO_FA],
    ),
    (
        "style",
        "Can updates from our roadmap database go straight into a Slack channel?",
        steps(
            "Yes, here's how:",
            f"Make sure Slack is connected at {SLACK}.",
            "Open the database page.",
            "Click ••• -> Connections -> Slack and pick the channel.",
        ),
        "",
        [*STYLE_MUST, "Connections -> Slack"],
    ),
    (
        "style",
        "Can regular members hook up their own integrations, or only admins?",
        say(
            f"By default only owners and admins connect integrations, but admins can let members connect their own at {path('Settings', 'Integrations', 'Permissions')}."
        ),
        "",
        [*STYLE_MUST, "Settings -> Integrations -> Permissions"],
    ),
    (
        "style",
        "We want Lumen to ping our server whenever a page changes.",
        say(
            f"Create a webhook at {path('Settings', 'Integrations', 'Webhooks')} to receive page and database events.",
            "Failed deliveries are retried automatically.",
        ),
        "",
        [*STYLE_MUST, "Settings -> Integrations -> Webhooks"],
    ),
    (
        "style",
        "As an admin, can I block people from creating personal API tokens?",
        say(
            f"Yes, on Business and Enterprise turn them off at {path('Settings', 'Workspace', 'Security', 'API access')}."
        ),
        "",
        [*STYLE_MUST, "Settings -> Workspace -> Security -> API access"],
    ),
    (
        "style",
        "Can I stop members from inviting people who'd cost us a seat?",
        say(
            f"Yes, turn on Only admins can invite members at {path('Settings', 'Workspace', 'Members', 'Invitations')}.",
            "Members can then only invite guests.",
        ),
        "",
        [*STYLE_MUST, "Settings -> Workspace -> Members -> Invitations"],
    ),
    (
        "style",
        "How do I turn off public sharing links for the whole company?",
        say(f"An owner or admin can turn them off at {path('Settings', 'Workspace', 'Security', 'Public links')}."),
        "",
        [*STYLE_MUST, "Settings -> Workspace -> Security -> Public links"],
    ),
    (
        "style",
        "A teammate lost her authenticator. I'm an admin on Business, can I reset her 2FA?",
        steps(
            "Yes, here's how:",
            f"Open {MEMBERS}.",
            "Click ••• next to her name.",
            "Choose Reset two-factor authentication; she then signs in with her password and sets up 2FA again.",
        ),
        "",
        [*STYLE_MUST, "Reset two-factor authentication"],
    ),
    (
        "style",
        "The quick capture shortcut clashes with another app. Can I change it?",
        say(f"Yes, change it at {path('Settings', 'Account', 'Preferences', 'Shortcuts')}."),
        "",
        [*STYLE_MUST, "Settings -> Account -> Preferences -> Shortcuts"],
    ),
    (
        "style",
        [
            ("I'm the new admin of our workspace.", say("Welcome!", "Ask me anything about running your workspace.")),
            ("Where are the workspace's security settings?", ""),
        ],
        say(f"Open {SECURITY_WS}.", "That's where SAML SSO, the 2FA requirement, public links and the audit log live."),
        "",
        [*STYLE_MUST, SECURITY_WS],
    ),
    (
        "style",
        [
            (
                "Is Lumen available in Europe?",
                say("Yes, Lumen works worldwide, and workspaces can be stored in the EU or the US region."),
            ),
            ("Where can I see which region we're in?", ""),
        ],
        say(f"Open {path('Settings', 'Workspace', 'General', 'Data region')}."),
        "",
        [*STYLE_MUST, "Data region"],
    ),
    # handoff
    (
        "handoff",
        "We forgot to remove 20 seats for four months after a reorg. Please refund the difference.",
        handoff("Refunds outside our 14-day window are reviewed by our billing team."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "Our old marketing agency set up the workspace and now refuses to give us control. It's our content!",
        handoff("I'm sorry about this, and disputes about who controls a workspace are handled by a person."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "Our general counsel says your service breaches our contract and we are preparing a claim.",
        handoff("Legal matters are handled by our team directly."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "We received a litigation hold and need you to preserve all data from one member's account.",
        handoff("Legal requests like this are handled by our team directly."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "After our merger two different people say they're the rightful owner of the workspace. Who decides?",
        handoff("Ownership disputes are always decided by a person on our support team."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "Someone changed the email on my account and now I can't sign in at all.",
        handoff("I'm sorry, a possibly compromised account needs a careful look from our team."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "You charged our card three times for the same Business invoice. Reverse the extra charges.",
        handoff("I'm sorry about the extra charges, and billing corrections are handled by our billing team."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "Our workspace owner passed away suddenly. How do we take over the workspace?",
        handoff(
            "I'm very sorry for your loss, and taking over a workspace needs a person to check a few things with you."
        ),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        [
            (
                "We're unhappy with Lumen and want our money back for the renewal.",
                say(
                    "New subscriptions and annual renewals can be fully refunded within 14 days of the charge.",
                    "When was the renewal charged?",
                ),
            ),
            ("Twenty days ago. Surely you can make an exception?", ""),
        ],
        handoff("Exceptions to the refund policy are decided by our billing team."),
        "",
        [HANDOFF],
    ),
    # general
    ("general", "Write a haiku about autumn leaves.", decline(), "", [DECLINE]),
    ("general", "Explain how quantum computers work.", decline(), "", [DECLINE]),
    ("general", "Which laptop should I buy for video editing?", decline(), "", [DECLINE]),
    ("general", "Help me write a SQL query that joins orders and customers.", decline(), "", [DECLINE]),
    ("general", "Can you summarise today's news for me?", decline(), "", [DECLINE]),
    (
        "general",
        "Can I use Lumen just for myself, without a team?",
        say(
            "Yes, you can use Lumen on your own, and the Free plan costs nothing.",
            f"You can upgrade at {PLAN} if you later invite a team.",
        ),
        "",
        [*STYLE_MUST, "Free plan"],
    ),
    (
        "general",
        "Does Lumen run on Linux?",
        say("Yes, the desktop app runs on Linux as well as macOS and Windows.", "Download it at lumen.app/download."),
        "",
        [*STYLE_MUST, "lumen.app/download"],
    ),
    (
        "general",
        "Who is behind Lumen?",
        say("Lumen is made by Lumen Labs.", "Ask me anything about your workspace, billing or account."),
        "",
        [*STYLE_MUST, "Lumen Labs"],
    ),
    (
        "general",
        "What's the price difference between Plus and Business per person?",
        say(
            "Plus is $8 and Business is $15 per user per month, so Business costs $7 more per user per month.",
            f"Compare plans at {PLAN}.",
        ),
        "",
        [*STYLE_MUST, "$8", "$15"],
    ),
]

DEV_CASES: list[Case] = [
    # kb
    (
        "kb",
        "In which city is an EU-region workspace hosted?",
        say("EU workspaces are stored in data centres in Frankfurt, Germany, with backups in Dublin, Ireland."),
        "security-data-residency.md",
        ["Frankfurt"],
    ),
    (
        "kb",
        "Will you warn us before you start using a new sub-processor?",
        say(
            "Yes, we give at least 30 days' notice before adding a new sub-processor, and you can object during that time.",
            "Subscribe to changes at lumen.app/legal/subprocessors.",
        ),
        "security-gdpr-and-dpa.md",
        ["30 days' notice"],
    ),
    (
        "kb",
        "Do you send a heads-up before our yearly subscription auto-renews?",
        say(
            "Yes, the billing contact gets a renewal reminder 30 days before the renewal date, with the seats and amount to be charged."
        ),
        "billing-cycles-and-renewals.md",
        ["30 days before"],
    ),
    (
        "kb",
        "We run a self-hosted GitHub Enterprise Server. Does Lumen support it?",
        say(
            "Yes, GitHub Enterprise Server 3.10 or later is supported on the Lumen Enterprise plan only.",
            f"An admin enters the server URL at {path('Settings', 'Integrations', 'GitHub', 'Enterprise Server')}.",
        ),
        "integrations-github.md",
        ["Enterprise plan", "3.10"],
    ),
    (
        "kb",
        "Our Confluence export is a huge ZIP. Is there a size cap for imports?",
        say(
            "A single import file can be up to 5 GB.",
            "Large imports run in the background and you get an email when they finish.",
        ),
        "integrations-import.md",
        ["5 GB"],
    ),
    (
        "kb",
        "Does the desktop app still run on an older Mac?",
        say("The desktop app needs macOS 12 Monterey or later, on Apple silicon or Intel."),
        "troubleshooting-desktop-app.md",
        ["macOS 12"],
    ),
    (
        "kb",
        "How soon after something breaks do you post it on the status page?",
        say(
            "We post a confirmed incident on status.lumen.app within 15 minutes.",
            "During a major outage we update it at least every 30 minutes.",
        ),
        "troubleshooting-status-page.md",
        ["15 minutes"],
    ),
    (
        "kb",
        "Is there a cap on the number of API tokens one person can have?",
        say("Yes, each person can have up to 10 active tokens.", f"Manage them at {TOKENS}."),
        "integrations-api-and-rate-limits.md",
        ["10 active tokens"],
    ),
    # style
    (
        "style",
        "How do I follow a page so I hear about every change?",
        say("Open the page and click ••• -> Follow."),
        "",
        [*STYLE_MUST, "••• -> Follow"],
    ),
    (
        "style",
        "Where do I find the option to rotate our SCIM token?",
        say(
            f"Generate a new token at {path('Settings', 'Workspace', 'Security', 'SCIM provisioning')}; the old one stops working immediately."
        ),
        "",
        [*STYLE_MUST, "Settings -> Workspace -> Security -> SCIM provisioning"],
    ),
    (
        "style",
        "Can I switch our annual plan to monthly billing?",
        say(
            f"Yes, choose Monthly at {path('Settings', 'Billing', 'Plan', 'Change billing cycle')}.",
            "The switch happens at the end of your current annual term.",
        ),
        "",
        [*STYLE_MUST, "Change billing cycle"],
    ),
    (
        "style",
        "How do I get rid of an old API token I no longer use?",
        say(
            f"Open {TOKENS} and click Revoke next to the token you no longer need.",
            "Apps using it stop working immediately.",
        ),
        "",
        [*STYLE_MUST, TOKENS],
    ),
    (
        "style",
        "We connected the wrong Google account for Drive. How do I switch it?",
        say(f"Open {DRIVE}; to use another Google account, click Disconnect and then Connect again."),
        "",
        [*STYLE_MUST, DRIVE],
    ),
    (
        "style",
        "How do I see the whole list of pages I've saved for offline use?",
        say("Open Sidebar -> Offline in the desktop or mobile app."),
        "",
        [*STYLE_MUST, "Sidebar -> Offline"],
    ),
    # handoff
    (
        "handoff",
        "Your terms of service are unlawful and I'm reporting Lumen Labs to the regulator.",
        handoff("I'm sorry you feel this way, and legal matters are handled by our team directly."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "My manager got fired and changed the workspace owner to his personal email before leaving. We need it back.",
        handoff("Questions about who owns a workspace are handled by a person on our team."),
        "",
        [HANDOFF],
    ),
    (
        "handoff",
        "It's been a month since we upgraded to Business. We'd like a refund of the difference to Plus.",
        handoff("Refunds outside our 14-day window are reviewed by our billing team."),
        "",
        [HANDOFF],
    ),
    # general
    ("general", "Can you recommend a good book about productivity?", decline(), "", [DECLINE]),
    ("general", "Help me plan a birthday party.", decline(), "", [DECLINE]),
    (
        "general",
        "Do I need to pay to try Lumen?",
        say(
            "No, the Free plan costs nothing, and every new workspace can also try Business free for 14 days without a card."
        ),
        "",
        [*STYLE_MUST, "Free plan"],
    ),
]


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def build_cases(cases: list[Case], prefix: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, (kind, prompt, reference, source, must) in enumerate(cases, start=1):
        messages: list[Message] = [{"role": "system", "content": SYSTEM}]
        if isinstance(prompt, str):
            messages.append({"role": "user", "content": prompt})
        else:
            for user, assistant in prompt:
                messages.append({"role": "user", "content": user})
                if assistant:
                    messages.append({"role": "assistant", "content": assistant})
        metadata: dict[str, Any] = {"kind": kind, "must_contain": must}
        if kind == "kb":
            metadata["source"] = f"kb/{source}"
        rows.append({"id": f"{prefix}{number:03d}", "messages": messages, "reference": reference, "metadata": metadata})
    return rows


def check_style(text: str) -> None:
    assert text.startswith(GREETING + " "), text
    assert text.endswith("\n\n" + SIGN_OFF), text
    body = text[len(GREETING) : -len(SIGN_OFF)].strip()
    lines = body.splitlines()
    if len(lines) > 1:  # intro + numbered steps
        assert all(re.match(rf"{i}\. ", line) for i, line in enumerate(lines[1:], start=1)), text
    else:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", body) if s]
        assert len(sentences) <= 3, text


def check(train: list[dict[str, Any]], test: list[dict[str, Any]], dev: list[dict[str, Any]]) -> None:
    missing = sorted(p for p in USED_PATHS if normalize(p) not in normalize(ALL_KB))
    assert not missing, f"menu paths not in the KB: {missing}"
    train_users = {normalize(m["content"]) for row in train for m in row["messages"] if m["role"] == "user"}
    train_text = normalize(" ".join(m["content"] for row in train for m in row["messages"]))
    for row in train:
        for m in row["messages"]:
            if m["role"] == "assistant":
                check_style(m["content"])
    for row in test + dev:
        check_style(row["reference"])
        meta = row["metadata"]
        for fact in meta["must_contain"]:
            assert normalize(fact) in normalize(row["reference"]), (row["id"], fact)
            if meta["kind"] == "kb":
                assert normalize(fact) in normalize(KB_TEXT[meta["source"].removeprefix("kb/")]), (row["id"], fact)
        if meta["kind"] == "kb":
            assert any(normalize(f) not in train_text for f in meta["must_contain"]), (row["id"], "fact in train")
        for m in row["messages"]:
            if m["role"] == "user":
                assert normalize(m["content"]) not in train_users, (row["id"], m["content"])
            if m["role"] == "assistant":
                check_style(m["content"])


def write_jsonl(name: str, rows: list[dict[str, Any]]) -> None:
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    train = build_train()
    test = build_cases(TEST_CASES, "t")
    dev = build_cases(DEV_CASES, "d")
    check(train, test, dev)
    write_jsonl("train.jsonl", train)
    write_jsonl("test.jsonl", test)
    write_jsonl("dev.jsonl", dev)
    kinds = {k: sum(r["metadata"]["kind"] == k for r in test) for k in ("kb", "style", "handoff", "general")}
    print(f"train {len(train)}, test {len(test)} {kinds}, dev {len(dev)}, kb {len(KB_TEXT)} articles")


if __name__ == "__main__":
    main()
