"""Django admin for users. Every change goes through `accounts.services`, like the API.

The role is the one switch for admin access (`is_staff`/`is_superuser` follow it), so the forms
offer the role and never the two flags. The password hash is never put in a form field; the add
form takes a new password twice and runs the password validators.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.forms import SetPasswordMixin
from django.core.validators import RegexValidator

from . import services
from .models import Role, User

_username_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]{3,60}$", "Use 3-60 letters, digits, dots, dashes or underscores."
)


def _username_taken(username: str, *, exclude_pk=None) -> bool:
    return User.objects.filter(username__iexact=username).exclude(pk=exclude_pk).exists()


class UserCreationForm(SetPasswordMixin, forms.ModelForm):
    """New account with a role and a password (typed twice, checked by the validators)."""

    password1, password2 = SetPasswordMixin.create_password_fields()

    class Meta:
        model = User
        fields = ("email", "username", "full_name", "role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].required = False
        self.fields["username"].validators.append(_username_validator)
        self.fields["username"].help_text = "Leave empty to derive one from the email address."

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username") or ""
        if username and _username_taken(username):
            raise forms.ValidationError("This username is taken.")
        return username

    def clean(self):
        self.validate_passwords()
        return super().clean()

    def _post_clean(self):
        super()._post_clean()
        self.validate_password_for_user(self.instance)


class UserChangeForm(forms.ModelForm):
    """What an administrator may change: username, name, role and whether the account works."""

    class Meta:
        model = User
        fields = ("username", "full_name", "role", "is_active")

    # Set by UserAdmin.get_form: the administrator using the form.
    acting_user: User | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].validators.append(_username_validator)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if _username_taken(username, exclude_pk=self.instance.pk):
            raise forms.ValidationError("This username is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
        actor = self.acting_user
        editing_self = actor is not None and actor.pk == self.instance.pk
        losing_access = (
            cleaned.get("is_active") is False or cleaned.get("role", Role.ADMIN) != Role.ADMIN
        )
        if editing_self and losing_access:
            raise forms.ValidationError(
                "Administrators cannot deactivate or demote their own account."
            )
        return cleaned


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ("email", "username", "full_name", "role", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("email", "username", "full_name")
    ordering = ("-created_at", "id")
    date_hierarchy = "created_at"
    readonly_fields = (
        "email",
        "is_staff",
        "is_superuser",
        "last_login",
        "tokens_valid_after",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("email", "username", "full_name")}),
        ("Access", {"fields": ("role", "is_active", "is_staff", "is_superuser")}),
        ("History", {"fields": ("last_login", "tokens_valid_after", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "username", "full_name", "role", "password1", "password2"),
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            form = type(form.__name__, (form,), {"acting_user": request.user})
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            created = services.user_create(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                role=form.cleaned_data["role"],
                full_name=form.cleaned_data.get("full_name", ""),
                username=form.cleaned_data.get("username", ""),
            )
            # The admin goes on with `obj` (messages, log entry, redirect): make it the new row.
            for field in User._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))
            obj._state.adding = False
            obj._state.db = created._state.db
            return
        stored = User.objects.get(pk=obj.pk)
        changed = set(form.changed_data)
        if "username" in changed:
            stored = services.user_update_profile(user=stored, username=obj.username)
        services.user_admin_update(
            actor=request.user,
            user=stored,
            role=obj.role if "role" in changed else None,
            is_active=obj.is_active if "is_active" in changed else None,
            full_name=obj.full_name if "full_name" in changed else None,
        )
